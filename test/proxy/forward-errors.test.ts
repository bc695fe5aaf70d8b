// Upstream failures: unreachable, too slow, stalled, cut off, broken, and clients that
// leave early. One Gatehouse serves every test in this file, so each failure is followed
// by requests that must still work, and the last test checks the proxy is still up.

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startGatehouse } from '../helpers/gatehouse.js'
import { closedPort, startEchoUpstream, type Received } from '../helpers/upstream.js'

interface Outcome {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  /** The response body arrived whole (the message ended properly). */
  complete: boolean
  /** Set when the connection failed or was cut. */
  error?: string
  ms: number
  /** The client gave up waiting (the proxy neither answered nor cut). */
  hung: boolean
}

/** A request that reports partial answers instead of throwing; gives up after `guardMs`. */
function attempt(port: number, options: { method?: string; path?: string; host: string; accept?: string; body?: string }, guardMs = 5000): Promise<Outcome> {
  const started = performance.now()
  return new Promise((resolve) => {
    let outcome: Outcome = { status: 0, headers: {}, body: '', complete: false, ms: 0, hung: false }
    let done = false
    const finish = (patch: Partial<Outcome>) => {
      if (done) return
      done = true
      clearTimeout(guard)
      outcome = { ...outcome, ...patch, ms: performance.now() - started }
      resolve(outcome)
    }
    const headers: Record<string, string> = { host: options.host }
    if (options.accept) headers.accept = options.accept
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body))
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers, agent: false }, (res) => {
      outcome.status = res.statusCode!
      outcome.headers = res.headers
      res.on('data', (c: Buffer) => (outcome.body += c.toString()))
      res.on('end', () => finish({ complete: res.complete }))
      res.on('error', (err) => finish({ error: err.message, complete: false }))
      res.on('close', () => finish({ complete: res.complete }))
    })
    const guard = setTimeout(() => {
      finish({ hung: true })
      req.destroy()
    }, guardMs)
    req.on('error', (err) => finish({ error: err.message }))
    req.end(options.body)
  })
}

const json = (o: Outcome) => JSON.parse(o.body) as Record<string, unknown>

/** What the flaky upstream noticed about each response it started. */
const closedEarly: string[] = []

// One upstream whose behaviour depends on the path.
const flaky = await startEchoUpstream({
  handler(req, res, body) {
    res.on('close', () => {
      if (!res.writableFinished) closedEarly.push(req.url!)
    })
    switch (req.url) {
      case '/never':
        return // never answers
      case '/stall':
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('partial')
        return // and nothing more
      case '/cut':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' })
        res.write('only-ten!!')
        setTimeout(() => req.socket.destroy(), 50)
        return
      case '/cut-chunked':
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('some')
        setTimeout(() => req.socket.destroy(), 50)
        return
      case '/reset':
        req.socket.destroy()
        return
      case '/garbage':
        req.socket.end('THIS IS NOT HTTP\r\n\r\n')
        return
      case '/drip': {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const timer = setInterval(() => res.write('drip\n'), 10)
        res.on('close', () => clearInterval(timer))
        return
      }
      case '/error':
        res.writeHead(500, { 'content-type': 'text/plain', 'x-from': 'upstream' })
        res.end('upstream broke')
        return
      default: {
        const text = JSON.stringify({ url: req.url, body })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.end(text)
      }
    }
  },
})
const ok = await startEchoUpstream()

// An upstream that answers before reading the request body (as a size limit would).
const earlyReceived: { url: string; bytesRead: number }[] = []
const early = http.createServer((req, res) => {
  let bytesRead = 0
  req.on('data', (c: Buffer) => (bytesRead += c.length))
  res.writeHead(413, { 'content-type': 'text/plain', ...(req.url === '/big-then-close' ? { connection: 'close' } : {}) })
  res.end('too big')
  earlyReceived.push({ url: req.url!, bytesRead })
})
await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve))

// An upstream that reports uploads the client abandoned.
const uploads: { url: string; complete: boolean; bytes: number }[] = []
const uploadSink = http.createServer((req, res) => {
  let bytes = 0
  req.on('data', (c: Buffer) => (bytes += c.length))
  req.on('end', () => res.end(`got ${bytes}`))
  req.on('close', () => uploads.push({ url: req.url!, complete: req.complete, bytes }))
})
await new Promise<void>((resolve) => uploadSink.listen(0, '127.0.0.1', resolve))

const down = await closedPort()
const gh = await startGatehouse(`routes:
  - from: http://ok.test
    to: ${ok.origin}
    allow_public_unauthenticated_access: true
  - from: http://down.test
    to: http://127.0.0.1:${down}
    allow_public_unauthenticated_access: true
  - from: http://slow.test
    to: ${flaky.origin}
    timeout: 300ms
    allow_public_unauthenticated_access: true
  - from: http://stall.test
    to: ${flaky.origin}
    idle_timeout: 300ms
    allow_public_unauthenticated_access: true
  - from: http://flaky.test
    to: ${flaky.origin}
    allow_public_unauthenticated_access: true
  - from: http://early.test
    to: http://127.0.0.1:${(early.address() as AddressInfo).port}
    allow_public_unauthenticated_access: true
  - from: http://sink.test
    to: http://127.0.0.1:${(uploadSink.address() as AddressInfo).port}
    allow_public_unauthenticated_access: true
`)
t.teardown(async () => {
  await gh.close()
  await flaky.close()
  await ok.close()
  for (const server of [early, uploadSink]) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

/** The `t` a subtest callback receives (the last overload of t.test takes only the callback). */
type SubTest = Parameters<Parameters<typeof t.test>[0]>[0]

let okCount = 0
/** The healthy route answers, and the ok upstream records it. */
async function stillServing(t: SubTest, label: string): Promise<void> {
  const path = `/after-${label.replace(/[^a-z0-9]+/gi, '-')}-${okCount}`
  const after = await attempt(gh.port, { host: 'ok.test', path })
  okCount++
  t.equal(after.status, 200, `after ${label}: the next request works`)
  t.equal(after.complete, true)
  t.equal((JSON.parse(after.body) as Received).url, path)
  t.equal(ok.received.length, okCount, `after ${label}: the ok upstream saw it`)
  t.equal(ok.received.at(-1)!.url, path)
}

/** The flaky upstream's pool recovered too: its normal path answers on the same route. */
async function flakyRecovers(t: SubTest, host: string): Promise<void> {
  const before = flaky.received.length
  const again = await attempt(gh.port, { host, path: '/fine' })
  t.equal(again.status, 200, `${host}: the same upstream answers the next request`)
  t.same(json(again), { url: '/fine', body: '' })
  t.equal(flaky.received.length, before + 1)
  t.equal(flaky.received.at(-1)!.url, '/fine')
}

const errorLogs = () => gh.logs.filter((l) => l.msg === 'upstream request failed')

t.test('upstream down: 502 GH_ERR_UPSTREAM_UNAVAILABLE', async (t) => {
  for (let i = 0; i < 3; i++) {
    const out = await attempt(gh.port, { host: 'down.test', path: '/x' })
    t.equal(out.status, 502)
    t.match(out.headers['content-type'], /^application\/json/)
    const body = json(out)
    t.match(body, { error: 'GH_ERR_UPSTREAM_UNAVAILABLE', status: 502 })
    t.equal(body.request_id, out.headers['x-request-id'])
    t.equal(out.headers['cache-control'], 'no-store')
  }
  const html = await attempt(gh.port, { host: 'down.test', path: '/x', accept: 'text/html' })
  t.equal(html.status, 502)
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.body, /GH_ERR_UPSTREAM_UNAVAILABLE/)
  t.equal(ok.received.length, okCount, 'nothing reached any upstream')
  t.ok(
    errorLogs().some((l) => (l.err as { code?: string }).code === 'ECONNREFUSED'),
    'the failure is logged with its cause',
  )
  await stillServing(t, 'down')
})

t.test('upstream never answers: 504 GH_ERR_UPSTREAM_TIMEOUT after `timeout`', async (t) => {
  const before = flaky.received.length
  const out = await attempt(gh.port, { host: 'slow.test', path: '/never' })
  t.equal(out.status, 504)
  t.match(json(out), { error: 'GH_ERR_UPSTREAM_TIMEOUT', status: 504 })
  t.ok(out.ms >= 250, `waited for the timeout (${Math.round(out.ms)} ms)`)
  t.ok(out.ms < 4000, 'and not much longer')
  t.equal(flaky.received.length, before + 1, 'the upstream got the request')
  t.equal(flaky.received.at(-1)!.url, '/never')
  // The proxy let go of the upstream request.
  await waitFor(() => closedEarly.includes('/never'))
  t.ok(closedEarly.includes('/never'), "the upstream's response was abandoned")
  await flakyRecovers(t, 'slow.test')
  await stillServing(t, 'timeout')
})

t.test('upstream stalls mid-body: the client connection is cut after idle_timeout', async (t) => {
  const before = flaky.received.length
  const out = await attempt(gh.port, { host: 'stall.test', path: '/stall' })
  t.equal(out.hung, false, 'the proxy did not leave the client hanging')
  t.equal(out.status, 200, 'the headers had already been sent')
  t.equal(out.body, 'partial', 'the client got what the upstream sent')
  t.equal(out.complete, false, 'the response did not complete')
  t.ok(out.ms >= 250, `cut after the idle timeout (${Math.round(out.ms)} ms)`)
  t.equal(flaky.received.length, before + 1)
  t.equal(flaky.received.at(-1)!.url, '/stall')
  await waitFor(() => closedEarly.includes('/stall'))
  t.ok(closedEarly.includes('/stall'), 'the upstream connection was closed too')
  await flakyRecovers(t, 'stall.test')
  await stillServing(t, 'idle timeout')
})

t.test('upstream destroys the socket mid-response', async (t) => {
  for (const path of ['/cut', '/cut-chunked']) {
    const before = flaky.received.length
    const out = await attempt(gh.port, { host: 'flaky.test', path })
    t.equal(out.hung, false, path)
    t.equal(out.status, 200, `${path}: headers had been sent`)
    t.equal(out.complete, false, `${path}: the client sees an incomplete response, not a short success`)
    t.ok(out.body === '' || 'only-ten!!some'.includes(out.body), `${path}: only what the upstream sent (${JSON.stringify(out.body)})`)
    t.equal(flaky.received.length, before + 1)
    t.equal(flaky.received.at(-1)!.url, path)
    await flakyRecovers(t, 'flaky.test')
    await stillServing(t, path)
  }
})

t.test('upstream closes before answering or answers garbage: 502', async (t) => {
  for (const path of ['/reset', '/garbage']) {
    const before = flaky.received.length
    const out = await attempt(gh.port, { host: 'flaky.test', path })
    t.equal(out.status, 502, path)
    t.match(json(out), { error: 'GH_ERR_UPSTREAM_UNAVAILABLE' })
    t.notMatch(out.body, /NOT HTTP/, "the upstream's bytes are not relayed")
    t.equal(flaky.received.length, before + 1)
    t.equal(flaky.received.at(-1)!.url, path)
    await flakyRecovers(t, 'flaky.test')
    await stillServing(t, path)
  }
})

t.test("an upstream's own error status is passed through untouched", async (t) => {
  const out = await attempt(gh.port, { host: 'flaky.test', path: '/error' })
  t.equal(out.status, 500)
  t.equal(out.body, 'upstream broke')
  t.equal(out.headers['x-from'], 'upstream')
  t.equal(flaky.received.at(-1)!.url, '/error')
  await stillServing(t, 'upstream 500')
})

t.test('TRACE: 405 and nothing forwarded', async (t) => {
  const before = flaky.received.length
  const out = await attempt(gh.port, { host: 'flaky.test', method: 'TRACE', path: '/x' })
  t.equal(out.status, 405)
  t.match(json(out), { error: 'GH_ERR_METHOD_NOT_ALLOWED' })
  t.equal(flaky.received.length, before)
  await stillServing(t, 'TRACE')
})

t.test('a client that leaves mid-download releases the upstream', async (t) => {
  const before = flaky.received.length
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gh.port, path: '/drip', headers: { host: 'flaky.test' }, agent: false }, (res) => {
      t.equal(res.statusCode, 200)
      res.once('data', (c: Buffer) => {
        t.match(c.toString(), /drip/, 'the download had started')
        req.destroy()
        resolve()
      })
    })
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)))
    req.end()
  })
  await waitFor(() => closedEarly.includes('/drip'))
  t.ok(closedEarly.includes('/drip'), 'the upstream saw its response closed before it finished')
  t.equal(flaky.received.length, before + 1)
  await flakyRecovers(t, 'flaky.test')
  await stillServing(t, 'client left')
})

t.test('a client that leaves mid-upload releases the upstream', async (t) => {
  const before = uploads.length
  await new Promise<void>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: gh.port, method: 'POST', path: '/abandoned', headers: { host: 'sink.test' }, agent: false })
    req.on('error', () => {})
    req.write('x'.repeat(64 * 1024))
    setTimeout(() => {
      req.destroy()
      resolve()
    }, 200)
  })
  await waitFor(() => uploads.length > before)
  t.equal(uploads.length, before + 1, 'the upstream request was closed')
  t.equal(uploads.at(-1)!.url, '/abandoned')
  t.equal(uploads.at(-1)!.complete, false, 'and not presented as a complete upload')
  t.ok(uploads.at(-1)!.bytes > 0, 'the part sent had been streamed on')

  const out = await attempt(gh.port, { host: 'sink.test', method: 'POST', path: '/whole', body: 'abc' })
  t.equal(out.status, 200)
  t.equal(out.body, 'got 3')
  await waitFor(() => uploads.some((u) => u.url === '/whole'))
  t.match(
    uploads.find((u) => u.url === '/whole'),
    { complete: true, bytes: 3 },
  )
  await stillServing(t, 'abandoned upload')
})

t.test('an upstream that answers before reading the upload', async (t) => {
  const body = 'y'.repeat(2 * 1024 * 1024)
  for (let i = 0; i < 2; i++) {
    const out = await attempt(gh.port, { host: 'early.test', method: 'POST', path: '/big', body })
    t.equal(out.hung, false)
    t.equal(out.status, 413, "the client gets the upstream's answer")
    t.equal(out.body, 'too big')
    t.equal(earlyReceived.at(-1)?.url, '/big')
    t.ok(earlyReceived.at(-1)!.bytesRead < body.length, 'the upstream answered before it had the whole body')
  }

  // Answering and closing the connection at once races the upload: the close often
  // arrives as EPIPE/ECONNRESET before the answer can be read (undici fails the request
  // on the write error). Either outcome is acceptable; hanging or crashing is not.
  const before = earlyReceived.length
  const out = await attempt(gh.port, { host: 'early.test', method: 'POST', path: '/big-then-close', body })
  t.equal(out.hung, false)
  t.ok(out.status === 413 || out.status === 502, `413 relayed or 502 reported (${out.status})`)
  if (out.status === 502) t.match(json(out), { error: 'GH_ERR_UPSTREAM_UNAVAILABLE' })
  t.equal(earlyReceived.length, before + 1)
  t.equal(earlyReceived.at(-1)!.url, '/big-then-close')
  await stillServing(t, 'early answer')
})

t.test('the proxy is still up', async (t) => {
  const ping = await attempt(gh.port, { host: 'anything.test', path: '/ping' })
  t.equal(ping.status, 200)
  t.equal(ping.body, 'OK')
  await stillServing(t, 'everything')
  t.equal(flaky.received.filter((r) => r.url === '/ping').length, 0, 'the probe was answered by Gatehouse')
})

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms
  while (!check() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
}
