import type { AddressInfo } from 'node:net'
import pino from 'pino'
import t from 'tap'
import { serve } from '../../src/serve.js'
import { request } from '../helpers/client.js'
import { configDir } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'

t.test('metrics_address serves Prometheus metrics on its own listener', async (t) => {
  const u = await upstream(t)
  const dir = configDir(t, {
    config: `address: 127.0.0.1:0\nmetrics_address: 127.0.0.1:0\nlog_level: warn\nroutes:
  - name: app
    from: http://app.test
    to: ${u.origin}
    policy:
      - allow: { or: [{ accept: true }] }
      - deny: { or: [{ http_path: { starts_with: /admin } }] }
`,
  })
  const served = await serve(dir.configFile, { logger: pino({ level: 'silent' }), watch: false })
  t.teardown(() => served.close())
  const port = (served.app.server.address() as AddressInfo).port
  const metricsPort = (served.metricsServer!.address() as AddressInfo).port
  t.not(metricsPort, port, 'a listener of its own')

  for (const path of ['/', '/a', '/admin']) await request(port, { path, headers: { host: 'app.test' } })
  await request(port, { path: '/', headers: { host: 'nowhere.test' } })

  const res = await request(metricsPort, { path: '/metrics', headers: { host: 'x' } })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  t.match(res.text, /gatehouse_requests_total\{route="app",code="200"\} 2/)
  t.match(res.text, /gatehouse_requests_total\{route="app",code="403"\} 1/)
  t.match(res.text, /gatehouse_requests_total\{route="-",code="404"\} 1/)
  t.match(res.text, /gatehouse_authorize_decisions_total\{route="app",verdict="allow"\} 2/)
  t.match(res.text, /gatehouse_authorize_decisions_total\{route="app",verdict="deny"\} 1/)
  t.match(res.text, /gatehouse_request_duration_seconds_bucket\{le="0.005",route="app"\}/)
  t.match(res.text, /gatehouse_process_cpu_user_seconds_total/)

  t.equal((await request(metricsPort, { path: '/other', headers: { host: 'x' } })).status, 404)
  t.equal((await request(port, { path: '/metrics', headers: { host: 'app.test' } })).status, 200, 'the proxy itself forwards /metrics to the app like any path')
  t.notMatch(u.received.at(-1)!.url, /gatehouse_/, 'and the app never sees our metrics')
})

t.test('metrics cover websockets, forward-auth, upstream errors and health, sign-ins, sessions, reloads and the store', async (t) => {
  const { idp, TEST_CLIENT } = await import('../helpers/idp.js')
  const { redis } = await import('../helpers/redis.js')
  const { closedPort } = await import('../helpers/upstream.js')
  const { websocketHandshake } = await import('../helpers/websocket.js')
  const { signIn } = await import('../helpers/browser.js')
  const store = await redis(t)
  const p = await idp(t)
  p.registerClient({ ...TEST_CLIENT, client_id: 'metrics', redirect_uris: ['http://app.test/oauth2/callback'] })
  const ws = await upstream(t, { websockets: true })
  const dead = `http://127.0.0.1:${await closedPort()}`
  const dir = configDir(t, {
    config: `address: 127.0.0.1:0
metrics_address: 127.0.0.1:0
log_level: warn
trusted_proxies: [127.0.0.1]
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: metrics
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${Buffer.alloc(32, 4).toString('base64')}]
  store: ${store.url}
routes:
  - name: app
    from: http://app.test
    to: ${ws.origin}
    allow_websockets: true
    allow_any_authenticated_user: true
  - name: flaky
    from: http://flaky.test
    to: [${dead}, ${ws.origin}]
    allow_public_unauthenticated_access: true
`,
  })
  const served = await serve(dir.configFile, { logger: pino({ level: 'silent' }), watch: false })
  t.teardown(() => served.close())
  const port = (served.app.server.address() as AddressInfo).port
  const metricsPort = (served.metricsServer!.address() as AddressInfo).port
  const { waitReady } = await import('../helpers/browser.js')
  await waitReady(port, 'app.test')

  const { jar } = await signIn(port, { host: 'app.test', login: (url) => p.login(url, 'alice') })
  t.equal((await request(port, { path: '/', headers: { host: 'app.test', cookie: jar.header() } })).status, 200)
  const tunnel = await websocketHandshake(port, { host: 'app.test', cookie: jar.header() })
  t.equal(tunnel.status, 101)
  await request(port, { path: '/.gatehouse/auth', headers: { host: 'auth.internal', 'x-original-url': 'http://app.test/x', cookie: jar.header() } })
  await request(port, { path: '/', headers: { host: 'flaky.test' } })
  t.equal(await served.reload(), true)

  const text = (await request(metricsPort, { path: '/metrics', headers: { host: 'x' } })).text
  t.match(text, /gatehouse_sign_ins_total\{idp="test",result="signed_in"\} 1/)
  t.match(text, /gatehouse_sessions_active 1/)
  t.match(text, /gatehouse_websockets_open [1-9]/)
  t.match(text, /gatehouse_authorize_decisions_total\{route="app",verdict="allow"\} 3/, 'HTTP, websocket and forward-auth decisions')
  t.match(text, /gatehouse_requests_total\{route="app",code="101"\} 1/, 'the websocket handshake is a request')
  t.match(text, /gatehouse_upstream_errors_total\{route="flaky",code="ECONNREFUSED"\} 1/)
  t.match(text, new RegExp(`gatehouse_upstream_healthy\\{route="flaky",upstream="${dead.replace(/[.]/g, '\\.')}"\\} 0`), 'the refusing member is out')
  t.match(text, /gatehouse_config_reloads_total\{result="applied"\} 1/)
  t.match(text, /gatehouse_session_store_up 1/)
  t.match(text, /gatehouse_session_store_duration_seconds_count [1-9]/)
  tunnel.ws!.close()
})
