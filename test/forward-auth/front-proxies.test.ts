// Forward-auth behind the real front proxies: Debian's nginx (auth_request) and Caddy
// (forward_auth), each running the shipped example config from examples/forward-auth/,
// with a real Gatehouse, the real test IdP and a real upstream app behind them. One table
// of cases runs against both.

import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'

import { browse, CookieJar, setCookies, signIn, waitReady } from '../helpers/browser.js'
import { request, type Reply } from '../helpers/client.js'
import { FRONT_PROXIES, frontProxy, type FrontProxyKind, type RunningFrontProxy } from '../helpers/front-proxies.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import { upstream, type EchoUpstream, type Received } from '../helpers/upstream.js'

const SECRET = randomBytes(32).toString('base64')
const HOST = 'app.test'
const ORIGIN = `http://${HOST}`

/** app.test: /public open to anyone, /intranet to 10.0.0.0/8, the rest for admins and
 *  never with DELETE; open.test: open to anyone. The open parts are what spoofed
 *  descriptions point at. */
const config = (issuer: string, app: string) => `
trusted_proxies: [127.0.0.1]
idps:
  - id: test
    issuer: ${issuer}
    client_id: front
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups, offline_access]
session:
  secrets: [${SECRET}]
routes:
  - name: public
    from: ${ORIGIN}
    prefix: /public
    to: ${app}
    allow_public_unauthenticated_access: true
  - name: intranet
    from: ${ORIGIN}
    prefix: /intranet
    to: ${app}
    policy:
      - allow: { or: [{ source_ip: 10.0.0.0/8 }] }
  - name: app
    from: ${ORIGIN}
    to: ${app}
    policy:
      - allow: { or: [{ groups: { has: admins } }] }
      - deny: { or: [{ http_method: { is: DELETE } }] }
  - name: open
    from: http://open.test
    to: ${app}
    allow_public_unauthenticated_access: true
`

interface Stack {
  gh: RunningGatehouse
  app: EchoUpstream
  proxy: RunningFrontProxy
  /** A request through the front proxy to app.test (or the Host in `headers`). */
  get(path: string, headers?: Record<string, string>, method?: string): Promise<Reply>
  /** What Gatehouse itself answers a trusted caller that describes a request this way:
   *  shows that a spoofed description would have passed had the proxy let it through. */
  askDirectly(headers: Record<string, string>): Promise<Reply>
  /** Signs `user` in through the front proxy, starting at a protected page as a
   *  browser would; returns the browser's cookies. */
  signIn(user: string): Promise<CookieJar>
}

async function stack(t: Test, kind: FrontProxyKind, provider: TestIdp): Promise<Stack> {
  const app = await upstream(t)
  const gh = await gatehouse(t, config(provider.issuer, app.origin))
  await waitReady(gh.port, HOST)
  const proxy = await frontProxy(t, kind, { host: HOST, gatehouse: gh.port, app: app.port })
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    request(proxy.port, { method, path, headers: { host: HOST, accept: 'text/html', ...headers } })
  return {
    gh,
    app,
    proxy,
    get,
    askDirectly: (headers) => request(gh.port, { path: '/.gatehouse/auth', headers: { host: 'gatehouse.internal', accept: 'application/json', ...headers } }),
    async signIn(user) {
      const start = await get('/start')
      const to = new URL(String(start.headers.location))
      const { jar, callback } = await signIn(proxy.port, { host: HOST, path: to.pathname + to.search, login: (url) => provider.login(url, user) })
      if (callback.status !== 302) throw new Error(`${kind}: the callback answered ${callback.status}: ${callback.text}`)
      return jar
    },
  }
}

/** The last request the app received, or undefined. */
const lastSeen = (app: EchoUpstream): Received | undefined => app.received.at(-1)

/** The sign-in URL a redirect leads to, checked to be Gatehouse's on the app host. */
function signInTarget(t: Test, reply: Reply): URL | undefined {
  t.equal(reply.status, 302, 'redirected')
  const location = reply.headers.location
  if (typeof location !== 'string') return void t.fail('with a Location')
  const url = new URL(location, ORIGIN)
  t.equal(url.origin, ORIGIN, 'to the app host')
  t.equal(url.pathname, '/.gatehouse/sign_in', 'to sign in')
  return url
}

const client = { ...TEST_CLIENT, client_id: 'front', redirect_uris: [`${ORIGIN}/oauth2/callback`], grant_types: ['authorization_code', 'refresh_token'] }
const provider = await idp(t, { clients: [client] })
// Four-second access tokens, renewed after two: a session that Gatehouse refreshes while
// answering the front proxy.
const refreshing = await idp(t, { clients: [client], accessTokenTtl: 4 })
const REFRESH_AFTER_MS = 2100
const refreshGrants = (p: TestIdp) => p.calls.filter((c) => c.route === 'token' && c.grantType === 'refresh_token').length
const sessionCookie = (reply: Reply) => setCookies(reply).filter((c) => /^_gatehouse=[^;]+;/.test(c) && !/Max-Age=0/i.test(c))
const JWKS = new Map<number, ReturnType<typeof createLocalJWKSet>>()
async function verifyAssertion(gh: RunningGatehouse, token: string) {
  if (!JWKS.has(gh.port)) {
    const jwks = await request(gh.port, { path: '/.well-known/gatehouse/jwks.json', headers: { host: HOST } })
    JWKS.set(gh.port, createLocalJWKSet(JSON.parse(jwks.text)))
  }
  return (await jwtVerify(token, JWKS.get(gh.port)!, { audience: HOST })).payload
}

for (const kind of FRONT_PROXIES) {
  t.test(`behind ${kind}`, async (t) => {
    const s = await stack(t, kind, provider)
    // Signed in now, so that its refresh is due by the last subtest.
    const r = await stack(t, kind, refreshing)
    const refreshed = await r.signIn('alice')
    const refreshDue = Date.now() + REFRESH_AFTER_MS

    await t.test('a browser without a session signs in through the proxy; an admin reaches the app with identity', async (t) => {
      const first = await s.get('/reports?q=1&tab=2')
      const target = signInTarget(t, first)
      t.equal(target?.searchParams.get('rd'), `${ORIGIN}/reports?q=1&tab=2`, 'back to the page asked for afterwards, whole query included')
      t.equal(s.app.received.length, 0, 'the app saw nothing')

      const { jar, authorize, back, callback } = await signIn(s.proxy.port, {
        host: HOST,
        path: target!.pathname + target!.search,
        login: (url) => provider.login(url, 'alice'),
      })
      t.equal(authorize.origin, new URL(provider.issuer).origin, 'the sign-in went to the IdP')
      t.equal(authorize.searchParams.get('redirect_uri'), `${ORIGIN}/oauth2/callback`, 'asking it to come back to the app host')
      t.equal(back.origin, ORIGIN, 'the IdP sent the browser back to the app host, which the proxy serves')
      t.equal(callback.status, 302, 'Gatehouse took the callback through the proxy')
      t.equal(callback.headers.location, `${ORIGIN}/reports?q=1&tab=2`, 'and sent the browser back to its page')
      t.ok(jar.size > 0, 'with a session cookie')

      const page = await browse(s.proxy.port, jar, HOST, '/reports?q=1')
      t.equal(page.status, 200)
      const seen = lastSeen(s.app)
      t.equal(s.app.received.length, 1, 'the app answered')
      t.equal(seen?.url, '/reports?q=1')
      t.equal(seen?.headers['x-forwarded-user'], 'alice')
      t.equal(seen?.headers['x-forwarded-email'], 'alice@example.com')
      t.equal(seen?.headers['x-forwarded-groups'], 'admins,Kasm Premium')
      const assertion = seen?.headers['x-gatehouse-jwt-assertion']
      t.type(assertion, 'string', 'the app received the identity assertion')
      const claims = await verifyAssertion(s.gh, String(assertion))
      t.match(claims, { sub: 'alice', email: 'alice@example.com', groups: ['admins', 'Kasm Premium'] }, 'signed by Gatehouse, about alice')
    })

    const alice = await s.signIn('alice')
    const bob = await s.signIn('bob')

    await t.test('a user the policy denies gets 403 and the app sees nothing', async (t) => {
      const before = s.app.received.length
      const res = await s.get('/reports', { cookie: bob.header() })
      t.equal(res.status, 403)
      t.equal(s.app.received.length, before)
      t.equal((await s.get('/reports', { cookie: alice.header() })).status, 200, 'while an admin gets through on the same path')
    })

    // Each row: headers a client adds to a request for /reports (protected) to make it
    // look like a request for something public; `believed` is that description as a
    // trusted caller would send it, to show Gatehouse would let it pass.
    const spoofs: { name: string; headers: Record<string, string>; believed: Record<string, string> }[] = [
      {
        name: 'X-Original-URL naming a public path',
        headers: { 'x-original-url': `${ORIGIN}/public/x`, 'x-original-method': 'GET' },
        believed: { 'x-original-url': `${ORIGIN}/public/x` },
      },
      {
        name: 'X-Original-URL naming a public host',
        headers: { 'x-original-url': 'http://open.test/' },
        believed: { 'x-original-url': 'http://open.test/' },
      },
      {
        name: 'X-Forwarded-Uri naming a public path',
        headers: { 'x-forwarded-uri': '/public/x' },
        believed: { 'x-forwarded-proto': 'http', 'x-forwarded-host': HOST, 'x-forwarded-uri': '/public/x' },
      },
      {
        name: 'X-Forwarded-Host naming a public host',
        headers: { 'x-forwarded-host': 'open.test' },
        believed: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'open.test', 'x-forwarded-uri': '/reports' },
      },
      {
        // https as well: the sign-in redirect (checked to be http://app.test) is built from it.
        name: 'a whole Traefik-style description of a public request',
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'open.test', 'x-forwarded-uri': '/public/x', 'x-forwarded-method': 'GET' },
        believed: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'open.test', 'x-forwarded-uri': '/public/x', 'x-forwarded-method': 'GET' },
      },
    ]

    await t.test('a client cannot choose the request that is judged', async (t) => {
      t.equal((await s.get('/public/x')).status, 200, 'the public path is open to anyone')
      for (const spoof of spoofs) {
        t.equal((await s.askDirectly(spoof.believed)).status, 200, `${spoof.name}: would pass if believed`)
        const before = s.app.received.length
        const anonymous = await s.get('/reports', spoof.headers)
        t.equal(
          signInTarget(t, anonymous)?.searchParams.get('rd'),
          `${ORIGIN}/reports`,
          `${spoof.name}: a browser without a session still signs in for /reports`,
        )
        t.equal((await s.get('/reports', { ...spoof.headers, cookie: bob.header() })).status, 403, `${spoof.name}: bob is still denied /reports`)
        t.equal(s.app.received.length, before, `${spoof.name}: the app saw neither`)
      }

      const before = s.app.received.length
      const hostSpoof = await s.get('/reports', { host: 'open.test' })
      t.equal(s.app.received.length, before, `a Host naming a public route host does not reach the app (${hostSpoof.status})`)

      t.equal((await s.get('/reports', { cookie: alice.header() }, 'DELETE')).status, 403, 'alice may not DELETE')
      const method = await s.get('/reports', { cookie: alice.header(), 'x-original-method': 'GET', 'x-forwarded-method': 'GET' }, 'DELETE')
      t.equal(method.status, 403, 'nor by calling her DELETE a GET')
      t.equal(s.app.received.length, before, 'the app saw no DELETE')

      const fromIntranet = { 'x-original-url': `${ORIGIN}/intranet/`, 'x-forwarded-for': '10.1.2.3' }
      t.equal((await s.askDirectly(fromIntranet)).status, 200, 'a trusted caller that says the client is 10.1.2.3 is believed')
      t.equal((await s.get('/intranet/', { 'x-forwarded-for': '10.1.2.3' })).status, 403, 'a client that says so itself is judged by its real address')
      t.equal(s.app.received.length, before, 'the app saw nothing of it')

      const direct = { 'x-original-url': `${ORIGIN}/public/x` }
      t.equal((await s.askDirectly(direct)).status, 200, 'Gatehouse answers a trusted caller that asks about /public/x')
      const asked = await s.get('/.gatehouse/auth', direct)
      t.equal(asked.status, 404, 'but a client cannot ask it through the proxy')
      t.equal(asked.headers['x-gatehouse-jwt-assertion'], undefined)
    })

    const forged = {
      'x-forwarded-user': 'admin',
      'x-forwarded-email': 'admin@example.com',
      'x-forwarded-groups': 'admins',
      'x-gatehouse-jwt-assertion': 'forged.assertion.value',
    }

    await t.test('identity headers a client sends never reach the app', async (t) => {
      // A public route without a session: Gatehouse answers 200 with no identity at all.
      const anonymous = await s.get('/public/x', forged)
      t.equal(anonymous.status, 200)
      const seen = lastSeen(s.app)!
      t.equal(seen.url, '/public/x')
      for (const name of Object.keys(forged)) t.notOk(seen.headers[name], `no ${name} on a public request without a session`)

      // A signed-in user on a public route: Gatehouse's identity, not the client's.
      await s.get('/public/x', { ...forged, cookie: alice.header() })
      t.equal(lastSeen(s.app)!.headers['x-forwarded-user'], 'alice', 'the identity Gatehouse vouched for on a public route')

      await s.get('/reports', { ...forged, cookie: alice.header() })
      const signedIn = lastSeen(s.app)!
      t.equal(signedIn.url, '/reports')
      t.equal(signedIn.headers['x-forwarded-user'], 'alice', 'the user Gatehouse vouched for, not the one the client sent')
      t.equal(signedIn.headers['x-forwarded-email'], 'alice@example.com')
      t.equal(signedIn.headers['x-forwarded-groups'], 'admins,Kasm Premium')
      const userLines = signedIn.rawHeaders.filter((_, i) => i % 2 === 0 && signedIn.rawHeaders[i].toLowerCase() === 'x-forwarded-user')
      t.equal(userLines.length, 1, 'one X-Forwarded-User line, not the client one beside it')
      t.not(signedIn.headers['x-gatehouse-jwt-assertion'], forged['x-gatehouse-jwt-assertion'])
      t.equal((await verifyAssertion(s.gh, String(signedIn.headers['x-gatehouse-jwt-assertion']))).sub, 'alice')
    })

    // nginx hands a Set-Cookie of Gatehouse's 200 to the browser (add_header); Caddy 2.6's
    // forward_auth has no way to, so behind it the browser keeps its old session cookie
    // (the README says so, and what that costs).
    const passesRefreshedCookie = kind === 'nginx'
    await t.test(`a session refreshed during the check: the new cookie ${passesRefreshedCookie ? 'reaches' : 'does not reach'} the browser`, async (t) => {
      await new Promise((done) => setTimeout(done, Math.max(0, refreshDue - Date.now())))
      const grants = refreshGrants(refreshing)
      const old = refreshed.header()
      const first = await r.get('/reports', { cookie: old })
      t.equal(first.status, 200, 'the app answered')
      t.equal(refreshGrants(refreshing), grants + 1, 'Gatehouse refreshed the tokens while answering the proxy')
      t.equal(
        sessionCookie(first).length,
        passesRefreshedCookie ? 1 : 0,
        passesRefreshedCookie ? 'the refreshed session reached the browser' : 'Caddy 2.6 drops it',
      )
      refreshed.absorb(first)
      t.equal(
        refreshed.header() !== old,
        passesRefreshedCookie,
        passesRefreshedCookie ? 'the browser now holds the new cookie' : 'the browser still holds the old cookie',
      )
      const second = await r.get('/reports', { cookie: refreshed.header() })
      t.equal(second.status, 200, 'the session goes on with the cookie the browser holds')
      t.equal(lastSeen(r.app)?.headers['x-forwarded-user'], 'alice')
      // Behind Caddy only because this Gatehouse process serves the refreshed session to
      // the old cookie for a while (a minute); after that it refreshes again.
      t.equal(refreshGrants(refreshing), grants + 1, 'without another refresh')
    })
  })
}
