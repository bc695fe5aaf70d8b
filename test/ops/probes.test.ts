import t, { type Test } from 'tap'
import { send } from '../helpers/client.js'
import { rawRequest } from '../helpers/raw.js'
import { gatehouse, publicRoute, startGatehouse } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'

/** An echo upstream served as http://app.test; both are closed when the test ends. */
async function appBehindGatehouse(t: Test) {
  const echo = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', echo.origin)}`)
  return { upstream: echo, gh }
}

t.test('probes answer on every host, before routing, without touching upstreams', async (t) => {
  const { upstream, gh } = await appBehindGatehouse(t)
  for (const host of ['app.test', 'unknown.test', '127.0.0.1']) {
    for (const path of ['/ping', '/healthz']) {
      const res = await send(gh.port, { host, path })
      t.equal(res.status, 200, `${host}${path}`)
      t.equal(res.body, 'OK')
      t.equal(res.headers['cache-control'], 'no-store')
    }
    const ready = await send(gh.port, { host, path: '/readyz' })
    t.equal(ready.status, 200)
    t.same(JSON.parse(ready.body), { status: 'ready', checks: { config: 'ok', idps: 'ok', sessions: 'ok' } })
  }
  const head = await send(gh.port, { host: 'x.test', path: '/ping', method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD works for load balancers that use it')
  t.equal(upstream.received.length, 0, 'no probe reached the upstream')
})

t.test('shutdown marks the instance closing and still completes requests in flight', async (t) => {
  const slow = await upstream(t, (_req, res) => setTimeout(() => res.end('done'), 600))
  const gh = await startGatehouse(`routes:\n${publicRoute('http://slow.test', slow.origin)}`)
  // One connection carries a slow request and, pipelined behind it, a readiness probe
  // that is read only after shutdown has begun.
  const answer = rawRequest(gh.port, 'GET / HTTP/1.1\r\nHost: slow.test\r\n\r\n', 2000)
  await new Promise((r) => setTimeout(r, 150))
  const closing = gh.close()
  const raw = await answer
  t.equal(raw.status, 200, 'the request in flight completes')
  t.match(raw.raw, /done/)
  t.equal(gh.app.gatehouse.closing, true)
  await closing
  const ready = await gh.app.inject({ url: '/readyz' }).catch((err: Error) => err)
  t.ok(ready instanceof Error, 'a closed instance answers nothing')
})

t.test('every request gets an id: logged, sent upstream and returned', async (t) => {
  const { upstream, gh } = await appBehindGatehouse(t)
  const res = await send(gh.port, { host: 'app.test', path: '/hello?token=secret' })
  const id = res.headers['x-request-id'] as string
  t.match(id, /^[0-9a-f-]{36}$/)
  t.equal(upstream.received[0].headers['x-request-id'], id)
  await new Promise((r) => setTimeout(r, 50))
  const line = gh.logs.find((l) => l.msg === 'request')!
  t.equal(line.request_id, id)
  t.equal(line.status, 200)
  t.equal(line.path, '/hello', 'query strings (which may hold tokens) are not logged')
  t.equal(line.level, 30)

  const denied = await send(gh.port, { host: 'nowhere.test', headers: { accept: 'application/json' } })
  const body = JSON.parse(denied.body)
  t.equal(body.request_id, denied.headers['x-request-id'], 'error answers carry the request id')
})
