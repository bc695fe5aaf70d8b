// Several Gatehouse instances sharing one real redis-server, config and keys, as replicas
// behind a load balancer: any replica serves any session, a sign-in started on one
// finishes on another, a sign-out on a third ends it everywhere (websockets included),
// and while Redis is away sessions fail closed and public routes keep working.

import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { browse, CookieJar, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import { redis, type RunningRedis } from '../helpers/redis.js'
import { upstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'

const HOST = 'app.test'

interface Fleet {
  p: TestIdp
  store: RunningRedis
  replicas: RunningGatehouse[]
}

/** `refreshing`: two-second access tokens and refresh tokens (offline_access). */
async function fleet(t: Test, count = 3, refreshing = false): Promise<Fleet> {
  const store = await redis(t)
  const p = await idp(t, refreshing ? { accessTokenTtl: 2 } : {})
  p.registerClient({
    ...TEST_CLIENT,
    client_id: 'fleet',
    redirect_uris: [`http://${HOST}/oauth2/callback`],
    ...(refreshing ? { grant_types: ['authorization_code', 'refresh_token'] } : {}),
  })
  const app = await upstream(t, { websockets: true })
  const secret = randomBytes(32).toString('base64')
  const signingKey = String(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const config = `idps:
  - id: test
    issuer: ${p.issuer}
    client_id: fleet
    client_secret: ${TEST_CLIENT.client_secret}
${refreshing ? '    scopes: [openid, profile, email, groups, offline_access]\n' : ''}session:
  secrets: [${secret}]
  store: ${store.url}
identity:
  signing_key_file: signing.pem
routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_websockets: true
    allow_any_authenticated_user: true
  - from: http://public.test
    to: ${app.origin}
    allow_public_unauthenticated_access: true
`
  const replicas: RunningGatehouse[] = []
  for (let i = 0; i < count; i++) {
    const gh = await gatehouse(t, { config, files: { 'signing.pem': signingKey } })
    await waitReady(gh.port, HOST)
    replicas.push(gh)
  }
  return { p, store, replicas }
}

const page = (gh: RunningGatehouse, cookie: string, accept = 'application/json') => request(gh.port, { path: '/', headers: { host: HOST, cookie, accept } })

t.test('any replica serves any session; a sign-out on one ends it on all', async (t) => {
  const { p, replicas } = await fleet(t)
  const [a, b, c] = replicas
  // Started on A, finished on B.
  const jar = new CookieJar()
  const start = await browse(a.port, jar, HOST, '/.gatehouse/sign_in?rd=/')
  const back = new URL(await p.login(String(start.headers.location), 'alice'))
  const done = await browse(b.port, jar, HOST, back.pathname + back.search)
  t.equal(done.status, 302, 'a sign-in started on one replica completes on another')
  t.ok(jar.get('_gatehouse')!.length < 300, 'the cookie is a ticket, not the session')

  for (const gh of replicas) t.equal((await page(gh, jar.header())).status, 200, `replica :${gh.port} serves the session`)
  const seen = await request(c.port, { path: '/', headers: { host: HOST, cookie: jar.header() } })
  const assertion = (JSON.parse(seen.text).headers as Record<string, string>)['x-gatehouse-jwt-assertion']
  const jwks = JSON.parse((await request(a.port, { path: '/.well-known/gatehouse/jwks.json', headers: { host: HOST } })).text)
  const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), { audience: HOST })
  t.equal(payload.sub, 'alice', "C's assertion verifies with A's published keys: one shared key")

  const tunnel = await websocketHandshake(a.port, { host: HOST, cookie: jar.header() })
  t.equal(tunnel.status, 101)
  const copy = jar.header()
  const out = await request(c.port, { path: '/.gatehouse/sign_out', headers: { host: HOST, cookie: copy } })
  t.equal(out.status, 302)
  const closed = await Promise.race([tunnel.closed!.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))])
  t.ok(closed, 'the websocket open on A closed with the sign-out on C')
  for (const gh of replicas) t.equal((await page(gh, copy)).status, 401, `replica :${gh.port} refuses the copied cookie`)
})

t.test('while Redis is away, sessions fail closed with 503, public routes work, and all recovers', async (t) => {
  const { p, store, replicas } = await fleet(t, 2)
  const [a, b] = replicas
  const jar = new CookieJar()
  const start = await browse(a.port, jar, HOST, '/.gatehouse/sign_in?rd=/')
  const back = new URL(await p.login(String(start.headers.location), 'bob'))
  await browse(a.port, jar, HOST, back.pathname + back.search)
  t.equal((await page(b, jar.header())).status, 200)

  await store.stop()
  await new Promise((r) => setTimeout(r, 1200))
  const api = await page(b, jar.header())
  t.equal(api.status, 503, 'a request that needs the session fails closed')
  t.equal(JSON.parse(api.text).error, 'GH_ERR_SESSION_STORE_UNAVAILABLE')
  const html = await page(b, jar.header(), 'text/html')
  t.equal(html.status, 503)
  t.match(html.text, /sessions cannot be read right now/, 'a page that says what is wrong')
  t.equal((await request(b.port, { path: '/', headers: { host: 'public.test', cookie: jar.header() } })).status, 200, 'public routes keep working')
  const ready = await request(a.port, { path: '/readyz', headers: { host: HOST } })
  t.equal(ready.status, 503)
  t.match(JSON.parse(ready.text).checks.sessions, /Redis is/)
  const signOut = await request(a.port, { path: '/.gatehouse/sign_out', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })
  t.equal(signOut.status, 503, 'sign-out cannot pretend to have ended the session')

  await store.start()
  for (const gh of replicas) await waitReady(gh.port, HOST, 8000)
  t.pass('ready again by itself')
  // The restarted Redis is empty (no persistence here): the old session is gone, and a
  // new sign-in works.
  t.equal((await page(a, jar.header())).status, 401)
  const again = new CookieJar()
  const restart = await browse(b.port, again, HOST, '/.gatehouse/sign_in?rd=/')
  const back2 = new URL(await p.login(String(restart.headers.location), 'bob'))
  t.equal((await browse(b.port, again, HOST, back2.pathname + back2.search)).status, 302)
  t.equal((await page(a, again.header())).status, 200)
})

t.test('replicas refreshing one session at once: one refresh at the IdP, every request served', async (t) => {
  const { p, replicas } = await fleet(t, 2, true)
  const jar = new CookieJar()
  const start = await browse(replicas[0].port, jar, HOST, '/.gatehouse/sign_in?rd=/')
  const back = new URL(await p.login(String(start.headers.location), 'alice'))
  t.equal((await browse(replicas[0].port, jar, HOST, back.pathname + back.search)).status, 302, 'signed in')
  const refreshes = () => p.calls.filter((c) => c.route === 'token' && c.grantType === 'refresh_token').length
  await new Promise((r) => setTimeout(r, 1100))
  const before = refreshes()
  // The refreshed session is stored before the lock is released, so the replica that
  // waited reads it instead of refreshing again with a refresh token already used.
  const answers = await Promise.all([0, 1, 0, 1, 0, 1].map((i) => page(replicas[i], jar.header())))
  t.same(
    answers.map((a) => a.status),
    [200, 200, 200, 200, 200, 200],
    'every request is served',
  )
  t.equal(refreshes() - before, 1, 'the IdP saw one refresh')
})
