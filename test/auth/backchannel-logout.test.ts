// OpenID Connect Back-Channel Logout against a real IdP (oidc-provider): when the user
// signs out at the IdP, the IdP tells Gatehouse server to server, and the user's session
// ends on every replica, websockets included. Forged, altered and replayed logout
// tokens change nothing.

import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { SignJWT, importJWK } from 'jose'
import { browse, CookieJar, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import { redis } from '../helpers/redis.js'
import { upstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'

const HOST = 'app.test'

async function setup(t: Test, replicas = 1) {
  const store = await redis(t)
  const p = await idp(t, { backchannelLogout: true })
  const app = await upstream(t, { websockets: true })
  const secret = randomBytes(32).toString('base64')
  const config = `idps:
  - id: test
    issuer: ${p.issuer}
    client_id: bcl
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${secret}]
  store: ${store.url}
routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_websockets: true
    allow_any_authenticated_user: true
`
  const fleet: RunningGatehouse[] = []
  for (let i = 0; i < replicas; i++) fleet.push(await gatehouse(t, config))
  await p.registerClient({
    ...TEST_CLIENT,
    client_id: 'bcl',
    redirect_uris: [`http://${HOST}/oauth2/callback`],
    post_logout_redirect_uris: [`http://${HOST}/`],
    backchannel_logout_uri: `http://127.0.0.1:${fleet[0].port}/.gatehouse/backchannel_logout?idp=test`,
    backchannel_logout_session_required: true,
  })
  for (const gh of fleet) await waitReady(gh.port, HOST)
  return { p, fleet }
}

/** Signs `user` in with the IdP browser `idpBrowser` (so the IdP session can be ended later). */
async function signInWith(gh: RunningGatehouse, idpBrowser: ReturnType<TestIdp['browser']>, user: string): Promise<CookieJar> {
  const jar = new CookieJar()
  const start = await browse(gh.port, jar, HOST, '/.gatehouse/sign_in?rd=/')
  const back = new URL(await idpBrowser.login(String(start.headers.location), user))
  const done = await browse(gh.port, jar, HOST, back.pathname + back.search)
  if (done.status !== 302) throw new Error(`sign-in failed: ${done.status}`)
  return jar
}

const status = async (gh: RunningGatehouse, jar: CookieJar) =>
  (await request(gh.port, { path: '/', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })).status

t.test('signing out at the IdP ends the session on every replica, websockets included', async (t) => {
  const { p, fleet } = await setup(t, 2)
  const [a, b] = fleet
  const alice = p.browser()
  const jar = await signInWith(a, alice, 'alice')
  const other = await signInWith(a, p.browser(), 'bob')
  t.equal(await status(b, jar), 200, 'signed in, on either replica')
  const tunnel = await websocketHandshake(b.port, { host: HOST, cookie: jar.header() })
  t.equal(tunnel.status, 101)

  const end = new URL(p.endpoints.endSession!)
  end.search = new URLSearchParams({ client_id: 'bcl', post_logout_redirect_uri: `http://${HOST}/` }).toString()
  await alice.logout(end.href)
  // The IdP posts the logout token to Gatehouse on its own time.
  const until = Date.now() + 5000
  while (!a.logs.some((l) => l.msg === 'back-channel logout') && Date.now() < until) await new Promise((r) => setTimeout(r, 25))
  t.ok(
    a.logs.some((l) => l.msg === 'back-channel logout'),
    'Gatehouse received and accepted the logout token',
  )
  t.equal(await status(a, jar), 401, 'the session is over on A')
  t.equal(await status(b, jar), 401, 'and on B')
  const closed = await Promise.race([tunnel.closed!.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))])
  t.ok(closed, 'the websocket on B closed')
  t.equal(await status(a, other), 200, "another user's session is untouched")
})

t.test('forged, altered, replayed and malformed logout tokens are refused and change nothing', async (t) => {
  const { p, fleet } = await setup(t)
  const [gh] = fleet
  const jar = await signInWith(gh, p.browser(), 'alice')
  const key = p.signingKeys.find((k) => k.alg === 'RS256')!
  const now = Math.floor(Date.now() / 1000)
  const claims = {
    iss: p.issuer,
    aud: 'bcl',
    iat: now,
    jti: randomBytes(8).toString('hex'),
    sub: 'alice',
    events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
  }
  const sign = async (payload: Record<string, unknown>, signingKey: Record<string, unknown> = key as unknown as Record<string, unknown>) =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: String(signingKey.kid), typ: 'logout+jwt' })
      .sign(await importJWK(signingKey as never, 'RS256'))
  const post = (body: string, path = '/.gatehouse/backchannel_logout?idp=test', type = 'application/x-www-form-urlencoded') =>
    request(gh.port, { method: 'POST', path, headers: { host: '127.0.0.1', 'content-type': type }, body })
  const form = (token: string) => `logout_token=${encodeURIComponent(token)}`

  const attacker = {
    ...(await crypto.subtle.exportKey(
      'jwk',
      (
        await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, [
          'sign',
          'verify',
        ])
      ).privateKey,
    )),
    kid: key.kid,
  }
  const bad: [string, string | Promise<string>][] = [
    ['signed with another key', sign(claims, attacker)],
    ['another issuer', sign({ ...claims, iss: 'https://evil.example' })],
    ['another audience', sign({ ...claims, aud: 'someone-else' })],
    ['without the logout event', sign({ ...claims, events: {} })],
    ['with a nonce (an ID token)', sign({ ...claims, nonce: 'n' })],
    ['without sub or sid', sign({ ...claims, sub: undefined })],
    ['without jti', sign({ ...claims, jti: undefined })],
    ['issued in the future', sign({ ...claims, iat: now + 3600 })],
    ['issued long ago', sign({ ...claims, iat: now - 3600 })],
    ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`],
    ['not a JWT', 'garbage'],
  ]
  for (const [name, token] of bad) {
    const res = await post(form(await token))
    t.equal(res.status, 400, `${name}: 400`)
    t.equal(JSON.parse(res.text).error, 'GH_ERR_LOGOUT_TOKEN', `${name}: coded`)
  }
  t.equal((await post('logout_token=x', '/.gatehouse/backchannel_logout', 'application/json')).status, 400, 'another content type')
  t.equal((await post('', '/.gatehouse/backchannel_logout?idp=test')).status, 400, 'no token')
  t.equal((await post(form(await sign(claims)), '/.gatehouse/backchannel_logout/nope')).status, 400, 'an unknown IdP')
  t.equal(await status(gh, jar), 200, 'still signed in after all of that')

  const good = await sign(claims)
  const accepted = await post(form(good), '/.gatehouse/backchannel_logout/test')
  t.equal(accepted.status, 200, 'a valid token is accepted (the IdP named in the path)')
  t.equal(accepted.headers['cache-control'], 'no-store')
  t.equal(await status(gh, jar), 401, "and ends the user's sessions")
  t.equal((await post(form(good))).status, 400, 'the same token again is a replay')
})
