// Cookie tossing (a sibling subdomain setting our cookie name for the parent domain) and
// the bound on unfinished sign-ins.

import t, { type Test } from 'tap'
import { browse, CookieJar, signIn } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { upstream } from '../helpers/upstream.js'
import { parseCookies, CONFLICTING } from '../../src/session/cookies.js'
import { idpYaml, newSecret, provider, session, signedInGatehouse } from './signin.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'

const HOST = 'app.test'

async function setup(t: Test) {
  const p = await provider(t, [HOST])
  const app = await upstream(t)
  const gh = await signedInGatehouse(
    t,
    `${idpYaml(p, newSecret())}routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
    HOST,
  )
  return { p, gh, app }
}

t.test('the same cookie name twice with different values reads as neither', async (t) => {
  t.equal(parseCookies('a=1; a=2').a, CONFLICTING)
  t.equal(parseCookies('a=1; a=1').a, '1', 'the same value twice is fine')
  const odd = parseCookies('__proto__=x; constructor=y')
  t.equal(Object.getPrototypeOf(odd), Object.prototype, 'a cookie named __proto__ never reaches the prototype')
  t.equal(odd.constructor, 'y', 'constructor is just a cookie name')
})

t.test("a session cookie tossed next to the user's means no session, never the attacker's", async (t) => {
  const { p, gh } = await setup(t)
  const victim = (await session(gh, p, HOST, 'alice')).header()
  const attacker = (await session(gh, p, HOST, 'bob')).get('_gatehouse')!
  t.equal((await request(gh.port, { path: '/', headers: { host: HOST, cookie: victim } })).status, 200)
  for (const cookie of [`${victim}; _gatehouse=${attacker}`, `_gatehouse=${attacker}; ${victim}`]) {
    const res = await request(gh.port, { path: '/', headers: { host: HOST, cookie, accept: 'application/json' } })
    t.equal(res.status, 401, 'no session')
    const who = JSON.parse((await request(gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie } })).text)
    t.equal(who.signed_in, false, 'as nobody, not as bob')
  }
})

t.test('unfinished sign-ins are capped, so tabs cannot grow the Cookie header without end', async (t) => {
  const { p, gh } = await setup(t)
  const jar = new CookieJar()
  for (let i = 0; i < 12; i++) {
    const res = await browse(gh.port, jar, HOST, `/.gatehouse/sign_in?rd=${encodeURIComponent(`/tab-${i}-${'x'.repeat(1500)}`)}`)
    t.equal(res.status, 302)
    const pending = [...jar.keys()].filter((name) => name.startsWith('_gatehouse_tx_'))
    t.ok(pending.length <= 3, `after ${i + 1} sign-ins the browser holds ${pending.length} transaction cookies`)
    t.ok(
      pending.every((name) => jar.get(name)!.length < 4096),
      'each fits one cookie',
    )
  }
  // The newest sign-in still completes.
  const { callback } = await signIn(gh.port, { host: HOST, jar, path: '/.gatehouse/sign_in?rd=/done', login: (url) => p.login(url, 'alice') })
  t.equal(callback.status, 302)
  t.equal(callback.headers.location, `http://${HOST}/done`)
})

t.test('__Host- cookie names work over https (here: a TLS-terminating proxy in front)', async (t) => {
  const p = await idp(t)
  p.registerClient({ ...TEST_CLIENT, client_id: 'host-prefix', redirect_uris: [`https://${HOST}/oauth2/callback`] })
  const app = await upstream(t)
  const gh = await signedInGatehouse(
    t,
    `trusted_proxies: [127.0.0.1]
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: host-prefix
    client_secret: ${TEST_CLIENT.client_secret}
session:
  cookie_name: __Host-gh
  secrets: [${newSecret()}]
routes:
  - from: https://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
    HOST,
  )
  const viaTls = { host: HOST, 'x-forwarded-proto': 'https', accept: 'text/html' }
  const jar = new CookieJar()
  const start = await request(gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: viaTls })
  t.equal(start.status, 302)
  jar.absorb(start)
  t.ok(
    [...jar.keys()].some((n) => n.startsWith('__Host-gh_tx_')),
    'the sign-in cookie is a __Host- cookie too',
  )
  const back = new URL(await p.login(String(start.headers.location), 'alice'))
  t.equal(back.origin, `https://${HOST}`)
  const done = await request(gh.port, { path: back.pathname + back.search, headers: { ...viaTls, cookie: jar.header() } })
  t.equal(done.status, 302, done.text.slice(0, 200))
  const sessionCookie = ([] as string[]).concat(done.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-gh='))
  t.match(sessionCookie, /^__Host-gh=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/, 'Secure, Path=/ and no Domain, as browsers require')
  jar.absorb(done)
  const page = await request(gh.port, { path: '/', headers: { ...viaTls, cookie: jar.header() } })
  t.equal(page.status, 200, 'signed in')
})
