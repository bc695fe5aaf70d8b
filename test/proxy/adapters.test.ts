// One table, three transports. The same request, with or without a session, with a bad
// cookie, a session from an IdP no longer configured, allowed, denied, or for an unknown
// host, gets the same decision over plain HTTP, a websocket handshake and a forward-auth
// call, each answering in its own form; a due refresh happens the same way in all three.

import t, { type Test } from 'tap'
import { Metrics } from '../../src/ops/metrics.js'
import { CookieSessionStore } from '../../src/session/cookie-store.js'
import { setCookies, type CookieJar } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import type { RunningGatehouse } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'
import { newSecret, session, signedInGatehouse } from '../security/signin.js'

const HOST = 'app.test'

type Verdict = 'allow' | 'sign_in' | 'deny' | 'no_route'

interface Answer {
  status: number
  setCookies: string[]
  json: Record<string, unknown> | undefined
  /** Identity the answer carries or the upstream saw, when allowed. */
  user: string | undefined
}

type Transport = (gh: RunningGatehouse, host: string, cookie: string) => Promise<Answer>

const parse = (text: string) => {
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    return undefined
  }
}

const TRANSPORTS: Record<string, { send: Transport; allowed: number }> = {
  http: {
    allowed: 200,
    async send(gh, host, cookie) {
      const reply = await request(gh.port, { path: '/x?q=1', headers: { host, cookie, accept: 'application/json' } })
      const json = parse(reply.text)
      const seen = json?.headers as Record<string, string> | undefined
      return { status: reply.status, setCookies: setCookies(reply), json, user: seen?.['x-forwarded-user'] }
    },
  },
  websocket: {
    allowed: 101,
    async send(gh, host, cookie) {
      const h = await websocketHandshake(gh.port, { host, path: '/x?q=1', cookie, close: true })
      return { status: h.status, setCookies: h.setCookies, json: parse(h.body), user: undefined }
    },
  },
  forward_auth: {
    allowed: 200,
    async send(gh, host, cookie) {
      const reply = await request(gh.port, {
        path: '/.gatehouse/auth',
        headers: { host: 'gatehouse.internal', 'x-original-url': `http://${host}/x?q=1`, cookie, accept: 'application/json' },
      })
      return { status: reply.status, setCookies: setCookies(reply), json: parse(reply.text), user: reply.headers['x-auth-request-user'] as string | undefined }
    },
  },
}

const STATUS: Record<Exclude<Verdict, 'allow'>, number> = { sign_in: 401, deny: 403, no_route: 404 }

const clears = (cookies: string[]) => cookies.some((c) => /^_gatehouse=;.*Max-Age=0/.test(c))
const writesSession = (cookies: string[]) => cookies.some((c) => /^_gatehouse=[^;]+;/.test(c) && !/Max-Age=0/.test(c))

async function setup(t: Test, accessTokenTtl?: number) {
  const p: TestIdp = await idp(t, accessTokenTtl === undefined ? {} : { accessTokenTtl })
  p.registerClient({
    ...TEST_CLIENT,
    client_id: 'adapters',
    redirect_uris: [`http://${HOST}/oauth2/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
  })
  const app = await upstream(t, { websockets: true })
  const secret = newSecret()
  const metrics = new Metrics()
  const gh = await signedInGatehouse(
    t,
    `trusted_proxies: [127.0.0.1]
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: adapters
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups, offline_access]
session:
  secrets: [${secret}]
routes:
  - name: app
    from: http://${HOST}
    to: ${app.origin}
    allow_websockets: true
    pass_identity_headers: true
    policy:
      - allow:
          or:
            - groups: { has: developers }
`,
    HOST,
    { metrics },
  )
  return { p, gh, secret, metrics }
}

/** A session sealed with the right secret, for an IdP the config does not have. */
function foreignSession(secret: string): string {
  const store = new CookieSessionStore({
    cookieName: '_gatehouse',
    secrets: [secret],
    ephemeral: false,
    domain: undefined,
    sameSite: 'lax',
    lifetimeSeconds: 3600,
    store: { kind: 'cookie' },
  })
  const written = store.set({ sid: 'gone', idp: 'removed-idp', sub: 'x', user: 'mallory', groups: ['developers'], claims: {} }, {}, { httpLoopback: true })
  return written.map((c) => c.split(';', 1)[0]).join('; ')
}

t.test('the same decision and each transport its own answer', async (t) => {
  const s = await setup(t)
  const bob = (await session(s.gh, s.p, HOST, 'bob')).header()
  const carol = (await session(s.gh, s.p, HOST, 'carol')).header()
  const rows: { name: string; host: string; cookie: string; verdict: Verdict; cleared: boolean }[] = [
    { name: 'no session', host: HOST, cookie: '', verdict: 'sign_in', cleared: false },
    { name: 'a member of the allowed group', host: HOST, cookie: bob, verdict: 'allow', cleared: false },
    { name: 'a signed-in user the policy denies', host: HOST, cookie: carol, verdict: 'deny', cleared: false },
    { name: 'a session cookie that does not open', host: HOST, cookie: '_gatehouse=garbage', verdict: 'sign_in', cleared: true },
    { name: 'a session from an IdP no longer configured', host: HOST, cookie: foreignSession(s.secret), verdict: 'sign_in', cleared: true },
    { name: 'an unknown host', host: 'elsewhere.test', cookie: bob, verdict: 'no_route', cleared: false },
  ]
  for (const row of rows) {
    for (const [name, transport] of Object.entries(TRANSPORTS)) {
      const decisionsBefore = s.gh.logs.filter((l) => l.msg === 'authorize').length
      const answer = await transport.send(s.gh, row.host, row.cookie)
      const label = `${row.name} over ${name}`
      t.equal(answer.status, row.verdict === 'allow' ? transport.allowed : STATUS[row.verdict], `${label}: status`)
      if (row.verdict === 'sign_in') {
        t.equal(answer.json?.error, 'GH_ERR_UNAUTHENTICATED', `${label}: coded`)
        t.equal(
          answer.json?.sign_in_url,
          `http://${row.host}/.gatehouse/sign_in?rd=${encodeURIComponent(`http://${row.host}/x?q=1`)}`,
          `${label}: names where to sign in`,
        )
      }
      if (row.verdict === 'deny') t.equal(answer.json?.error, 'GH_ERR_FORBIDDEN', `${label}: coded`)
      if (row.verdict === 'no_route') t.equal(answer.json?.error, 'GH_ERR_NO_ROUTE', `${label}: coded`)
      if (row.verdict === 'allow' && name !== 'websocket') t.equal(answer.user, 'bob', `${label}: carries who the user is`)
      t.equal(clears(answer.setCookies), row.cleared, `${label}: the bad cookie is ${row.cleared ? '' : 'not '}cleared`)
      const decisions = s.gh.logs.filter((l) => l.msg === 'authorize')
      t.equal(decisions.length - decisionsBefore, row.verdict === 'no_route' ? 0 : 1, `${label}: one decision logged`)
      if (row.verdict !== 'no_route') t.equal(decisions.at(-1)!.verdict, row.verdict, `${label}: logged as ${row.verdict}`)
    }
  }
  // Every transport is counted and logged.
  const text = await s.metrics.registry.metrics()
  const counted = { allow: 1, sign_in: 3, deny: 1 }
  for (const [verdict, rowCount] of Object.entries(counted)) {
    const expected = rowCount * Object.keys(TRANSPORTS).length
    t.match(
      text,
      new RegExp(`gatehouse_authorize_decisions_total\\{route="app",verdict="${verdict}"\\} ${expected}\\n`),
      `${verdict}: counted for every transport`,
    )
  }
  t.ok(
    s.gh.logs.some((l) => l.msg === 'request' && l.transport === 'websocket' && l.status === 101),
    'websocket handshakes have access lines',
  )
  t.ok(
    s.gh.logs.some((l) => l.msg === 'request' && l.transport === 'http' && l.path === '/.gatehouse/auth'),
    'forward-auth calls have access lines',
  )
})

t.test('a due refresh happens the same way over every transport', async (t) => {
  // Two-second access tokens are renewed after one second.
  const s = await setup(t, 2)
  const jars: Record<string, CookieJar> = {}
  for (const name of Object.keys(TRANSPORTS)) jars[name] = await session(s.gh, s.p, HOST, 'bob')
  await new Promise((r) => setTimeout(r, 1100))
  for (const [name, transport] of Object.entries(TRANSPORTS)) {
    const before = s.p.calls.filter((c) => c.route === 'token' && c.grantType === 'refresh_token').length
    const answer = await transport.send(s.gh, HOST, jars[name].header())
    const after = s.p.calls.filter((c) => c.route === 'token' && c.grantType === 'refresh_token').length
    t.equal(answer.status, transport.allowed, `${name}: allowed`)
    t.equal(after, before + 1, `${name}: refreshed once`)
    t.ok(writesSession(answer.setCookies), `${name}: the refreshed session is written`)
  }
})
