// authenticate_url: one sign-in host for every route. The IdP knows one redirect URI;
// route hosts under different domains each get their own session cookie through a
// one-time, short-lived handoff bound to the host and to the browser; signing in once
// serves every route; signing out anywhere ends the session everywhere.

import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { browse, Browser, CookieJar, followSignIn, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import { upstream } from '../helpers/upstream.js'

const AUTH = 'auth.test'
const APP1 = 'app.one.test'
const APP2 = 'portal.other.test'

/** An IdP that knows only the authenticate host's callback, and `replicas` Gatehouse
 *  instances sharing one config (`store`: a Redis URL, else the cookie store). */
async function setup(t: Test, options: { replicas?: number; store?: string } = {}) {
  const p = await idp(t)
  p.registerClient({ ...TEST_CLIENT, client_id: 'central', redirect_uris: [`http://${AUTH}/oauth2/callback`] })
  const app = await upstream(t)
  const config = `authenticate_url: http://${AUTH}
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: central
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${randomBytes(32).toString('base64')}]
${options.store ? `  store: ${options.store}\n` : ''}routes:
  - from: http://${APP1}
    to: ${app.origin}
    allow_any_authenticated_user: true
  - from: http://${APP2}
    to: ${app.origin}
    allow_any_authenticated_user: true
`
  const fleet: RunningGatehouse[] = []
  for (let i = 0; i < (options.replicas ?? 1); i++) {
    const gh = await gatehouse(t, config)
    await waitReady(gh.port, AUTH)
    fleet.push(gh)
  }
  return { p, gh: fleet[0], fleet }
}

const follow = (gh: RunningGatehouse, p: TestIdp, browser: Browser, start: string, user = 'alice') =>
  followSignIn(gh.port, (url) => p.login(url, user), browser, start, new URL(p.issuer).origin)

/** Signs in from `start`, stopping just before the route host takes the handoff: returns
 *  the handoff link the browser was sent to. */
async function untilHandoff(gh: RunningGatehouse, p: TestIdp, browser: Browser, start: string): Promise<URL> {
  let url = new URL(start)
  for (let i = 0; i < 10; i++) {
    if (url.origin === new URL(p.issuer).origin) {
      url = new URL(await p.login(url.href, 'alice'))
      continue
    }
    const res = await browse(gh.port, browser.jar(url.host), url.host, url.pathname + url.search)
    const next = new URL(String(res.headers.location), url)
    if (next.pathname === '/.gatehouse/handoff') return next
    url = next
  }
  throw new Error('no handoff')
}

const page = (gh: RunningGatehouse, browser: Browser, host: string) =>
  request(gh.port, { path: '/', headers: { host, cookie: browser.jar(host).header(), accept: 'application/json' } })

t.test('one sign-in on the authenticate host serves route hosts under different domains', async (t) => {
  const { p, gh } = await setup(t)
  const browser = new Browser()
  const first = await follow(gh, p, browser, `http://${APP1}/reports`)
  t.equal(first.final.href, `http://${APP1}/reports`, 'back where the user started')
  t.ok(
    first.hops.some((h) => h.host === AUTH && h.pathname === '/oauth2/callback'),
    'the IdP answered the authenticate host',
  )
  t.ok(
    first.hops.some((h) => h.host === APP1 && h.pathname === '/.gatehouse/handoff'),
    'the route host took the session over',
  )
  t.notOk(
    first.hops.some((h) => h.host === APP1 && h.pathname === '/oauth2/callback'),
    'the route host never handled a callback',
  )
  t.equal((await page(gh, browser, APP1)).status, 200)

  const logins = p.counts.interaction
  const second = await follow(gh, p, browser, `http://${APP2}/`)
  t.equal(second.final.href, `http://${APP2}/`)
  t.equal(p.counts.interaction, logins, 'no second login at the IdP')
  t.equal((await page(gh, browser, APP2)).status, 200, 'the second domain has its own session')
  const app1Copy = browser.jar(APP1).header()

  t.equal((await request(gh.port, { path: '/oauth2/callback?code=x&state=y', headers: { host: APP1 } })).status, 404, 'callbacks only on the authenticate host')

  // Signing out on one route host ends the session everywhere.
  const out = await request(gh.port, { path: '/.gatehouse/sign_out', headers: { host: APP2, cookie: browser.jar(APP2).header() } })
  t.equal(out.status, 302)
  const stale = await request(gh.port, { path: '/', headers: { host: APP1, cookie: app1Copy, accept: 'application/json' } })
  t.equal(stale.status, 401, 'the other route host refuses its own cookie')
  const again = await follow(gh, p, browser, `http://${APP1}/`)
  t.equal(again.final.href, `http://${APP1}/`)
  t.ok(p.counts.interaction > logins, 'the authenticate host asks the IdP again: its session ended too')
})

t.test('a handoff works once, for its host, in the browser that started it', async (t) => {
  const { p, gh } = await setup(t)
  const browser = new Browser()
  const handoff = await untilHandoff(gh, p, browser, `http://${APP1}/`)
  const path = handoff.pathname + handoff.search

  const otherBrowser = await browse(gh.port, new CookieJar(), APP1, path)
  t.equal(otherBrowser.status, 400, 'another browser cannot take it (no binding)')
  const stolen = await browse(gh.port, browser.jar(APP1), APP1, path)
  t.equal(stolen.status, 400, 'and the attempt spent it: even the right browser cannot use it now')

  // A fresh handoff presented on another route host.
  const browser2 = new Browser()
  const handoff2 = await untilHandoff(gh, p, browser2, `http://${APP1}/`)
  // Even with the binding cookie the APP1 browser holds, copied over to APP2.
  const onApp2 = new CookieJar(browser2.jar(APP1))
  const elsewhere = await browse(gh.port, onApp2, APP2, handoff2.pathname + handoff2.search)
  t.equal(elsewhere.status, 400, 'a handoff for one host is refused on another')
  t.notOk(
    ([] as string[]).concat(elsewhere.headers['set-cookie'] ?? []).some((c) => /^_gatehouse=[^;]/.test(c)),
    'and sets no session there',
  )
})

t.test('authenticate_url must be a scheme and host', async (t) => {
  await t.rejects(gatehouse(t, 'authenticate_url: https://auth.example.com/login\n'), {
    code: 'GH_ERR_CONFIG_INVALID',
    message: /authenticate_url: must be a scheme and host/,
  })
})

t.test('with Redis, the authenticate host and route hosts may be served by different replicas', async (t) => {
  const { redis } = await import('../helpers/redis.js')
  const store = await redis(t)
  const { p, fleet } = await setup(t, { replicas: 2, store: store.url })
  const [a, b] = fleet
  // Alternate replicas on every hop, as a load balancer without stickiness may.
  const browser = new Browser()
  let url = new URL(`http://${APP1}/`)
  let replica = 0
  for (let i = 0; i < 12 && url.host !== 'done'; i++) {
    if (url.origin === new URL(p.issuer).origin) {
      url = new URL(await p.login(url.href, 'bob'))
      continue
    }
    const gh = [a, b][replica++ % 2]
    const res = await browse(gh.port, browser.jar(url.host), url.host, url.pathname + url.search)
    if (res.status !== 302) break
    url = new URL(String(res.headers.location), url)
    if (url.href === `http://${APP1}/` && i > 0) break
  }
  t.equal(url.href, `http://${APP1}/`, 'the sign-in went through, hop by hop on alternating replicas')
  t.equal((await page(a, browser, APP1)).status, 200)
  t.equal((await page(b, browser, APP1)).status, 200)
})
