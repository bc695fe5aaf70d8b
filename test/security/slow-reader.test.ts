// A client that stops reading a large answer must not hold the upstream connection (and
// a pool slot) for ever, and one client address cannot hold more than its share.

import net from 'node:net'
import t from 'tap'
import { request } from '../helpers/client.js'
import { gatehouse } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'

const MB = Buffer.alloc(1024 * 1024, 'x')

t.test('a client that stops reading is cut after write_timeout, and the upstream is released', async (t) => {
  let upstreamClosed = false
  const big = await upstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    res.on('close', () => (upstreamClosed = true))
    // 256 MB, written as fast as the consumer takes it: far more than socket buffers hold.
    let sent = 0
    const pump = () => {
      while (sent < 256 && res.write(MB)) sent++
      if (sent < 256) res.once('drain', pump)
      else res.end()
    }
    pump()
  })
  const gh = await gatehouse(
    t,
    `limits:\n  write_timeout: 1s\nroutes:\n  - from: http://app.test\n    to: ${big.origin}\n    allow_public_unauthenticated_access: true\n`,
  )
  const socket = net.connect(gh.port, '127.0.0.1')
  t.teardown(() => void socket.destroy())
  await new Promise((r) => socket.once('connect', r))
  socket.write('GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n')
  socket.pause() // and never read again
  const closedBy = Date.now() + 6000
  while (!upstreamClosed && Date.now() < closedBy) await new Promise((r) => setTimeout(r, 100))
  t.ok(upstreamClosed, 'the upstream response was aborted (its connection released)')
  const still = await request(gh.port, { path: '/ping', headers: { host: 'app.test' } })
  t.equal(still.status, 200, 'Gatehouse serves others meanwhile')
})

t.test('a quiet upstream is not cut: only a client that stops reading is', async (t) => {
  const slow = await upstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('first\n')
    setTimeout(() => res.end('second\n'), 2000)
  })
  const gh = await gatehouse(
    t,
    `limits:\n  write_timeout: 500ms\nroutes:\n  - from: http://app.test\n    to: ${slow.origin}\n    allow_public_unauthenticated_access: true\n`,
  )
  const res = await request(gh.port, { path: '/', headers: { host: 'app.test' } })
  t.equal(res.status, 200)
  t.equal(res.text, 'first\nsecond\n', 'two seconds of silence from the upstream are fine')
})

t.test('one client address holds at most max_requests_per_client requests at once', async (t) => {
  const waiting: (() => void)[] = []
  const hang = await upstream(t, (_req, res) => {
    waiting.push(() => res.end('done'))
  })
  const gh = await gatehouse(
    t,
    `limits:\n  max_requests_per_client: 2\nroutes:\n  - from: http://app.test\n    to: ${hang.origin}\n    allow_public_unauthenticated_access: true\n`,
  )
  const first = request(gh.port, { path: '/1', headers: { host: 'app.test' } })
  const second = request(gh.port, { path: '/2', headers: { host: 'app.test' } })
  while (waiting.length < 2) await new Promise((r) => setTimeout(r, 20))
  const third = await request(gh.port, { path: '/3', headers: { host: 'app.test', accept: 'application/json' } })
  t.equal(third.status, 429)
  t.equal(JSON.parse(third.text).error, 'GH_ERR_TOO_MANY_REQUESTS')
  for (const done of waiting.splice(0)) done()
  t.equal((await first).status, 200)
  t.equal((await second).status, 200)
  const later = request(gh.port, { path: '/4', headers: { host: 'app.test' } })
  while (waiting.length < 1) await new Promise((r) => setTimeout(r, 20))
  waiting.splice(0).forEach((done) => done())
  t.equal((await later).status, 200, 'slots are given back when answers end')
})
