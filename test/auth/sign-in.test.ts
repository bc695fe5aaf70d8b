// Signing in end to end: Gatehouse, a real OIDC provider and a real upstream on
// 127.0.0.1; the test plays the browser.

import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { CookieJar, signIn as browserSignIn, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import { upstream, type EchoUpstream, type Teardown } from '../helpers/upstream.js'

const HOST = 'app.test'
const SECRET = randomBytes(32).toString('base64')

interface Setup {
  gh: RunningGatehouse
  provider: TestIdp
  app: EchoUpstream
}

async function setup(t: Teardown, extra = '', routeExtra = ''): Promise<Setup> {
  const provider = await idp(t)
  provider.registerClient({
    ...TEST_CLIENT,
    client_id: 'gatehouse-app',
    redirect_uris: [`http://${HOST}/oauth2/callback`],
    post_logout_redirect_uris: [`http://${HOST}/.gatehouse/signed_out`],
  })
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `
idps:
  - id: test
    name: Test IdP
    issuer: ${provider.issuer}
    client_id: gatehouse-app
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups, roles]
    logout: true
session:
  secrets: [${SECRET}]
${extra}routes:
  - name: app
    from: http://${HOST}
    to: ${app.origin}
    pass_identity_headers: true
${routeExtra}    policy:
      allow:
        or:
          - groups: { has: admins }
          - claim/https://example.com/roles: developer
`,
  )
  await waitReady(gh.port, HOST)
  return { gh, provider, app }
}

/** Browser-like sign-in for `user`, starting from a protected page. Returns the jar. */
async function signIn(s: Setup, user: string, path = '/dashboard?tab=1'): Promise<{ jar: CookieJar; landed: string }> {
  const first = await request(s.gh.port, { path, headers: { host: HOST, accept: 'text/html' } })
  if (first.status !== 302) throw new Error(`expected a redirect to sign in, got ${first.status}`)
  const { jar, callback } = await browserSignIn(s.gh.port, { host: HOST, path: first.headers.location as string, login: (url) => s.provider.login(url, user) })
  if (callback.status !== 302) throw new Error(`callback answered ${callback.status}: ${callback.text}`)
  return { jar, landed: callback.headers.location as string }
}

t.test('a browser is sent to sign in, comes back signed in, and reaches the app with a verifiable identity', async (t) => {
  const s = await setup(t)
  const first = await request(s.gh.port, { path: '/dashboard?tab=1', headers: { host: HOST, accept: 'text/html' } })
  t.equal(first.status, 302)
  t.equal(first.headers.location, `http://${HOST}/.gatehouse/sign_in?rd=${encodeURIComponent(`http://${HOST}/dashboard?tab=1`)}`)

  const start = await request(s.gh.port, { path: first.headers.location as string, headers: { host: HOST, accept: 'text/html' } })
  t.equal(start.status, 302)
  const authorize = new URL(start.headers.location as string)
  t.equal(authorize.origin, new URL(s.provider.issuer).origin, 'to the IdP')
  t.equal(authorize.searchParams.get('redirect_uri'), `http://${HOST}/oauth2/callback`)
  t.equal(authorize.searchParams.get('code_challenge_method'), 'S256', 'PKCE by default')
  t.ok(authorize.searchParams.get('state') && authorize.searchParams.get('nonce'), 'state and nonce')
  const tx = String(start.headers['set-cookie'])
  t.match(tx, /_gatehouse_tx_[A-Za-z0-9]+=/, 'a transaction cookie')
  t.match(tx, /HttpOnly/)
  t.match(tx, /SameSite=Lax/)

  const { jar, landed } = await signIn(s, 'alice')
  t.equal(landed, `http://${HOST}/dashboard?tab=1`, 'back where the user started')
  t.ok(jar.has('_gatehouse'), 'a session cookie')
  t.notOk(
    [...jar.keys()].some((k) => k.includes('_tx_')),
    'the transaction cookie is gone',
  )

  const page = await request(s.gh.port, { path: '/dashboard', headers: { host: HOST, cookie: jar.header() + '; theme=dark' } })
  t.equal(page.status, 200)
  const seen = s.app.received.at(-1)!
  t.equal(seen.headers['x-forwarded-user'], 'alice')
  t.equal(seen.headers['x-forwarded-email'], 'alice@example.com')
  t.match(String(seen.headers['x-forwarded-groups']), /admins/)
  t.equal(seen.headers.cookie, 'theme=dark', "Gatehouse's cookies never reach the app")
  const jwks = JSON.parse((await request(s.gh.port, { path: '/.well-known/gatehouse/jwks.json', headers: { host: HOST } })).text)
  const { payload } = await jwtVerify(String(seen.headers['x-gatehouse-jwt-assertion']), createLocalJWKSet(jwks), { issuer: HOST, audience: HOST })
  t.match(payload, { sub: 'alice', email: 'alice@example.com', user: 'alice' })
  t.ok((payload.groups as string[]).includes('admins'))

  const me = JSON.parse((await request(s.gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie: jar.header() } })).text)
  t.match(me, { signed_in: true, user: 'alice', email: 'alice@example.com', idp: 'test' })
  t.notMatch(JSON.stringify(me), /token|eyJ/, 'never tokens')
})

t.test('the policy decides per user: a namespaced role lets bob in, carol is denied', async (t) => {
  const s = await setup(t)
  const bob = await signIn(s, 'bob')
  t.equal((await request(s.gh.port, { path: '/', headers: { host: HOST, cookie: bob.jar.header() } })).status, 200)
  const carol = await signIn(s, 'carol')
  const denied = await request(s.gh.port, { path: '/', headers: { host: HOST, cookie: carol.jar.header(), accept: 'application/json' } })
  t.equal(denied.status, 403)
  t.equal(JSON.parse(denied.text).error, 'GH_ERR_FORBIDDEN')
  t.equal(s.app.received.length, 1, 'only bob reached the app')
})

t.test('a callback without its transaction, or with another state, sets no session', async (t) => {
  const s = await setup(t)
  const first = await request(s.gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: { host: HOST } })
  const jar = new CookieJar().absorb(first)
  const back = new URL(await s.provider.login(first.headers.location as string, 'alice'))
  // No cookie: as if another browser (or an attacker) delivered the code.
  const stolen = await request(s.gh.port, { path: back.pathname + back.search, headers: { host: HOST } })
  t.equal(stolen.status, 400)
  t.match(stolen.text, /GH_ERR_SIGN_IN_FAILED/)
  t.notMatch(String(stolen.headers['set-cookie'] ?? ''), /_gatehouse=[^;]/, 'no session cookie')
  // Another state with the right cookie.
  const forged = new URL(back)
  const state = forged.searchParams.get('state')!
  // Its first character changed (a state that began with x stayed the same before: 1 run in 64 failed).
  forged.searchParams.set('state', (state[0] === 'x' ? 'y' : 'x') + state.slice(1))
  const wrong = await request(s.gh.port, { path: forged.pathname + forged.search, headers: { host: HOST, cookie: jar.header() } })
  t.equal(wrong.status, 400)
  // The real one still works once; replaying it fails (transaction cleared, code used).
  const ok = await request(s.gh.port, { path: back.pathname + back.search, headers: { host: HOST, cookie: jar.header() } })
  t.equal(ok.status, 302)
  const replay = await request(s.gh.port, { path: back.pathname + back.search, headers: { host: HOST, cookie: jar.header() } })
  t.equal(replay.status, 400, 'a replayed callback fails')
})

t.test('APIs get 401 JSON with the sign-in URL; sign-out clears the session and ends it at the IdP', async (t) => {
  const s = await setup(t)
  const api = await request(s.gh.port, { path: '/api/x', headers: { host: HOST, accept: 'application/json' } })
  t.equal(api.status, 401)
  t.match(JSON.parse(api.text), {
    error: 'GH_ERR_UNAUTHENTICATED',
    sign_in_url: `http://${HOST}/.gatehouse/sign_in?rd=${encodeURIComponent(`http://${HOST}/api/x`)}`,
  })

  const { jar } = await signIn(s, 'alice')
  const out = await request(s.gh.port, { path: '/.gatehouse/sign_out?rd=/', headers: { host: HOST, cookie: jar.header() } })
  t.equal(out.status, 302)
  const end = new URL(out.headers.location as string)
  t.equal(end.origin + end.pathname, s.provider.endpoints.endSession, 'on to the IdP')
  t.ok(end.searchParams.get('id_token_hint'), 'with id_token_hint')
  t.equal(end.searchParams.get('post_logout_redirect_uri'), `http://${HOST}/.gatehouse/signed_out`, 'back to the signed-out page')
  jar.absorb(out)
  t.notOk(jar.has('_gatehouse'), 'the session cookie is cleared')
  const after = await request(s.gh.port, { path: '/', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })
  t.equal(after.status, 401)
  // Back from the IdP, the page says the IdP session was ended too.
  const page = await request(s.gh.port, { path: '/.gatehouse/signed_out', headers: { host: HOST, cookie: jar.header(), accept: 'text/html' } })
  t.equal(page.status, 200)
  t.match(page.text, /You are signed out/)
  t.match(page.text, /was ended too/)
  // Without the marker sign-out set, the same URL claims nothing about the IdP.
  const bare = await request(s.gh.port, { path: '/.gatehouse/signed_out', headers: { host: HOST, accept: 'text/html' } })
  t.notMatch(bare.text, /was ended too/, 'a URL alone cannot make the page claim the IdP session ended')
})

t.test('rd never leads off-site', async (t) => {
  const s = await setup(t)
  for (const rd of [
    '//evil.example',
    '/\\evil.example',
    'https://evil.example/',
    `http://${HOST}.evil.example/`,
    'javascript:alert(1)',
    '/%09/evil.example',
    `http://user@evil.example/`,
    '/ok\r\nSet-Cookie: x=1',
  ]) {
    const res = await request(s.gh.port, { path: `/.gatehouse/sign_out?rd=${encodeURIComponent(rd)}`, headers: { host: HOST } })
    t.equal(res.status, 302, rd)
    t.equal(res.headers.location, `http://${HOST}/.gatehouse/signed_out`)
    // The signed-out page's "sign in again" leads back to rd: it must stay on the app.
    const jar = new CookieJar().absorb(res)
    const page = await request(s.gh.port, { path: '/.gatehouse/signed_out', headers: { host: HOST, cookie: jar.header(), accept: 'text/html' } })
    const again = /href="(\/\.gatehouse\/sign_in\?[^"]+)"/.exec(page.text)![1].replace(/&amp;/g, '&')
    const location = new URL(again, `http://${HOST}`).searchParams.get('rd')!
    t.equal(new URL(location).origin, `http://${HOST}`, `${JSON.stringify(rd)} -> ${location} stays on the app`)
    t.notMatch(location, /javascript|\r|\n|@/)
  }
})

t.test('a session cookie that does not open means no session, and is cleared', async (t) => {
  const s = await setup(t)
  const { jar } = await signIn(s, 'alice')
  const good = jar.get('_gatehouse')!
  const tampered = good.slice(0, 20) + (good[20] === 'A' ? 'B' : 'A') + good.slice(21)
  const cases: [string, string][] = [
    ['tampered', `_gatehouse=${tampered}`],
    ['truncated', `_gatehouse=${good.slice(0, good.length - 10)}`],
    ['garbage', '_gatehouse=not-a-session'],
  ]
  for (const [name, cookie] of cases) {
    const res = await request(s.gh.port, { path: '/', headers: { host: HOST, cookie, accept: 'application/json' } })
    t.equal(res.status, 401, `${name}: no session`)
    t.match(String(res.headers['set-cookie']), /_gatehouse=; .*Max-Age=0/, `${name}: cleared`)
  }
  t.equal(s.app.received.length, 0, 'nothing reached the app')
})

t.test('access tokens are refreshed before they expire; a failed refresh ends the session', async (t) => {
  // Two-second access tokens are renewed halfway through their life, not on every request.
  const provider = await idp(t, { accessTokenTtl: 2 })
  provider.registerClient({
    ...TEST_CLIENT,
    client_id: 'refresher',
    redirect_uris: [`http://${HOST}/oauth2/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
  })
  const app = await upstream(t, (_req, res) => {
    res.setHeader('set-cookie', 'app=1; Path=/')
    res.end('ok')
  })
  const gh = await gatehouse(
    t,
    `
idps:
  - id: test
    issuer: ${provider.issuer}
    client_id: refresher
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups, offline_access]
session:
  secrets: [${SECRET}]
routes:
  - name: app
    from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
  )
  await waitReady(gh.port, HOST)
  const { jar } = await signIn({ gh, provider, app }, 'bob', '/')
  const refreshCount = () => provider.calls.filter((c) => c.route === 'token' && c.grantType === 'refresh_token').length
  const refreshesBefore = refreshCount()
  const fresh = await request(gh.port, { path: '/', headers: { host: HOST, cookie: jar.header() } })
  t.equal(fresh.status, 200)
  t.equal(refreshCount(), refreshesBefore, 'a fresh access token is not refreshed')
  await new Promise((r) => setTimeout(r, 1100))
  const first = await request(gh.port, { path: '/', headers: { host: HOST, cookie: jar.header() } })
  t.equal(first.status, 200)
  t.equal(refreshCount(), refreshesBefore + 1, 'the expiring access token was refreshed')
  t.match(
    gh.logs.find((l) => l.msg === 'session refreshed'),
    { event: 'refresh', idp: 'test', user: 'bob' },
    'the refresh is logged as an event',
  )
  t.match(
    gh.logs.find((l) => l.msg === 'signed in'),
    { event: 'sign_in', idp: 'test', user: 'bob' },
    'so is the sign-in',
  )
  const setCookies = ([] as string[]).concat(first.headers['set-cookie'] ?? [])
  t.ok(
    setCookies.some((c) => c.startsWith('_gatehouse=') && !/Max-Age=0/.test(c)),
    'the refreshed session is written',
  )
  t.ok(
    setCookies.some((c) => c.startsWith('app=1')),
    "next to the app's own cookie",
  )
  jar.absorb(first)
  const again = await request(gh.port, { path: '/', headers: { host: HOST, cookie: jar.header() } })
  t.equal(again.status, 200)
  t.equal(refreshCount(), refreshesBefore + 1, 'the refreshed token is not refreshed again at once')

  // The IdP forgets the user: the next refresh fails and the session ends.
  provider.users.splice(
    provider.users.findIndex((u) => u.id === 'bob'),
    1,
  )
  await new Promise((r) => setTimeout(r, 1100))
  const after = await request(gh.port, { path: '/', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })
  t.equal(after.status, 401, 'no session after a failed refresh')
  t.match(
    gh.logs.find((l) => l.msg === 'refresh failed; the session ends'),
    { event: 'refresh_failed', user: 'bob' },
  )
  t.match(String(after.headers['set-cookie']), /_gatehouse=; .*Max-Age=0/, 'and its cookie is cleared')
})

t.test('set_request_headers may carry the session tokens; jwt_claims_headers copy claims', async (t) => {
  const s = await setup(
    t,
    'jwt_claims_headers:\n  X-User-Roles: https://example.com/roles\n  X-Email: email\n',
    '    set_request_headers:\n      Authorization: Bearer ${gatehouse.access_token}\n      X-Id-Token: ${gatehouse.id_token}\n      X-Assertion: jwt=${gatehouse.jwt}\n',
  )
  const { jar } = await signIn(s, 'alice')
  // Forged copies from the client must not survive.
  const res = await request(s.gh.port, { path: '/', headers: { host: HOST, cookie: jar.header(), 'x-email': 'forged@evil.example', 'x-user-roles': 'admin' } })
  t.equal(res.status, 200)
  const seen = s.app.received.at(-1)!.headers
  t.match(String(seen.authorization), /^Bearer [\w.-]+$/)
  t.match(String(seen['x-id-token']), /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'the ID token')
  t.equal(seen['x-assertion'], `jwt=${seen['x-gatehouse-jwt-assertion']}`)
  t.equal(seen['x-email'], 'alice@example.com', 'the claim, not the forged value')
  t.equal(seen['x-user-roles'], 'admin', "alice's namespaced roles claim")

  // Without a session, a public route would send none of them (and strips forged ones).
  const anon = await request(s.gh.port, { path: '/', headers: { host: HOST, accept: 'application/json', 'x-email': 'forged@evil.example' } })
  t.equal(anon.status, 401)
})
