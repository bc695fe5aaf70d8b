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
