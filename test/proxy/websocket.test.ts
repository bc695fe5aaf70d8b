import { createHash, randomBytes } from 'node:crypto'
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import net, { type AddressInfo, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import t, { type Test } from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { send } from '../helpers/client.js'
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { rawRequest } from '../helpers/raw.js'
import { closedPort, upstream as echoUpstream, type EchoUpstream } from '../helpers/upstream.js'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

// ---------------------------------------------------------------------------------------
// Helpers

/** Counts TCP connections an upstream accepted: "no dial" means this stays at 0. */
function countDials(server: net.Server): { readonly count: number } {
  const counter = { count: 0 }
  server.on('connection', () => counter.count++)
  return counter
}

/** Every raw socket the upstream took an upgrade on, to watch it close. */
function upgradeSockets(server: http.Server): Duplex[] {
  const sockets: Duplex[] = []
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => sockets.push(socket))
  return sockets
}

async function startEcho(t: Test, websockets = true): Promise<EchoUpstream & { dials: { readonly count: number } }> {
  const echo = await echoUpstream(t, { websockets })
  return Object.assign(echo, { dials: countDials(echo.server) })
}

/** Gatehouse for one test. Its teardown checks that close() finishes on its own (no
 *  socket left behind); if it does not, that is a failure, and the sockets are cut so the
 *  other tests still run. */
async function startProxy(t: Test, yaml: string): Promise<RunningGatehouse> {
  const gh = await startGatehouse(yaml)
  const sockets = new Set<Socket>()
  gh.app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  let closing: Promise<void> | undefined
  const close = gh.close
  gh.close = () => (closing ??= close())
  t.teardown(async () => {
    const done = gh.close()
    const finished = await within(done, 3000, 'hung').then(
      () => true,
      () => false,
    )
    if (!finished) {
      t.fail(`app.close() did not finish: ${sockets.size} client socket(s) left open`)
      for (const socket of sockets) socket.destroy()
      await done
    }
  })
  return gh
}

/** The usual routes, all pointing at `origin`. */
function routesFor(origin: string, extra = ''): string {
  return `
routes:
  - from: http://ws.test
    to: ${origin}
    allow_websockets: true
    allow_public_unauthenticated_access: true
  - from: http://ws.test
    prefix: /rewrite/
    prefix_rewrite: /socket/
    to: ${origin}
    allow_websockets: true
    allow_public_unauthenticated_access: true
  - from: http://plain.test
    to: ${origin}
    allow_public_unauthenticated_access: true
  - from: http://private.test
    to: ${origin}
    allow_websockets: true
    allow_any_authenticated_user: true
${extra}`
}

type Opened = { ok: true; ws: WebSocket; response: IncomingMessage } | { ok: false; status: number; headers: IncomingHttpHeaders; body: string }

/** Opens a websocket through Gatehouse with the given Host; resolves with the open socket
 *  or with the plain HTTP answer that refused it. */
function openWs(t: Test, gh: RunningGatehouse, path: string, host = 'ws.test', headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gh.port}${path}`, { headers: { host, ...headers } })
    t.teardown(() => ws.terminate())
    let response: IncomingMessage | undefined
    ws.once('upgrade', (res) => (response = res))
    ws.once('open', () => resolve({ ok: true, ws, response: response! }))
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        req.destroy()
        resolve({ ok: false, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
      })
    })
    ws.once('error', reject)
  })
}

async function mustOpen(t: Test, gh: RunningGatehouse, path: string, host?: string, headers?: Record<string, string>) {
  const opened = await openWs(t, gh, path, host, headers)
  if (!opened.ok) throw new Error(`expected the websocket to open, got ${opened.status} ${opened.body}`)
  return opened
}

/** A websocket echo upstream, Gatehouse with the usual routes in front of it, and a
 *  websocket opened through both to `path`; `sockets` are the raw sockets the upstream
 *  took upgrades on. */
async function echoTunnel(t: Test, path: string, host?: string, headers?: Record<string, string>) {
  const upstream = await startEcho(t)
  const sockets = upgradeSockets(upstream.server)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const { ws, response } = await mustOpen(t, gh, path, host, headers)
  return { upstream, sockets, gh, ws, response, box: inbox(ws) }
}

/** Collects messages as they arrive; `take(n)` waits for the next n. */
function inbox(ws: WebSocket) {
  const queue: { data: Buffer; isBinary: boolean }[] = []
  let waiter: (() => void) | undefined
  ws.on('message', (data, isBinary) => {
    queue.push({ data: Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer), isBinary })
    waiter?.()
  })
  return {
    async take(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      while (queue.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} messages, have ${queue.length}`)
        await new Promise<void>((resolve) => {
          waiter = resolve
          setTimeout(resolve, 50)
        })
      }
      return queue.splice(0, n)
    },
    get pending() {
      return queue.length
    },
  }
}

/** `promise`, or a rejection with `message` after `ms`; the timer never outlives it. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

function once<T = void>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeoutMs)
    emitter.once(event, (...args: unknown[]) => {
      clearTimeout(timer)
      resolve(args as T)
    })
  })
}

/** A closed socket or one that closes within the time limit. */
function closed(socket: Duplex, timeoutMs = 5000): Promise<void> {
  if (socket.destroyed) return Promise.resolve()
  return once(socket, 'close', timeoutMs).then(() => undefined)
}

const wsKey = () => randomBytes(16).toString('base64')
const acceptFor = (key: string) =>
  createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64')

/** A handshake written byte for byte. */
function handshake(path: string, host: string, extra: string[] = [], key = wsKey()): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
    '',
  ].join('\r\n')
}

/** One masked client text frame (mask of zeros keeps the payload readable in tests). */
function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  if (payload.length > 125) throw new Error('test frames are short')
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

/** An unmasked server text frame, as the upstream sends it. */
function serverTextFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload])
}

/** A handshake by hand with http.request (which keeps the path exactly as given). */
function manualUpgrade(port: number, path: string, headers: Record<string, string>): Promise<{ response: IncomingMessage; socket: Socket; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers, agent: false })
    req.on('upgrade', (response, socket, head) => resolve({ response, socket, head }))
    req.on('response', (res) => reject(new Error(`expected 101, got ${res.statusCode}`)))
    req.on('error', reject)
    req.end()
  })
}

/** Reads from a socket until `want` bytes have arrived. */
function readBytes(socket: Socket, want: number, initial: Buffer = Buffer.alloc(0), timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let have = initial
    if (have.length >= want) return resolve(have)
    const timer = setTimeout(() => {
      socket.off('data', onData)
      reject(new Error(`timed out with ${have.length} of ${want} bytes`))
    }, timeoutMs)
    const onData = (chunk: Buffer) => {
      have = Buffer.concat([have, chunk])
      if (have.length >= want) {
        clearTimeout(timer)
        socket.off('data', onData)
        resolve(have)
      }
    }
    socket.on('data', onData)
  })
}

const json = (body: string) => JSON.parse(body) as { error: string; status: number; request_id: string; detail?: string }

// ---------------------------------------------------------------------------------------
// Tunnelling

t.test('messages go both ways through the tunnel', async (t) => {
  const { upstream, ws, response, box } = await echoTunnel(t, '/chat')
  t.equal(response.statusCode, 101)

  ws.send('hello')
  const [text] = await box.take(1)
  t.equal(text.isBinary, false)
  t.equal(text.data.toString(), 'echo:hello')

  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff])
  ws.send(bytes)
  const [binary] = await box.take(1)
  t.equal(binary.isBinary, true)
  t.same([...binary.data], [...bytes])

  ws.send('')
  t.equal((await box.take(1))[0].data.toString(), 'echo:', 'an empty message')

  ws.send('héllo wörld ✓')
  t.equal((await box.take(1))[0].data.toString(), 'echo:héllo wörld ✓', 'UTF-8 text')

  t.equal(upstream.upgrades.length, 1, 'one handshake reached the upstream')
  t.equal(upstream.upgrades[0].url, '/chat')
  t.equal(upstream.dials.count, 1, 'one upstream connection for the tunnel')
  t.equal(upstream.received.length, 0, 'no plain request reached the upstream')
  ws.close()
})

t.test('many messages both ways arrive complete and in order', async (t) => {
  const { upstream, ws, box } = await echoTunnel(t, '/many')
  const COUNT = 2000
  for (let i = 0; i < COUNT; i++) {
    if (i % 2 === 0) ws.send(`m${i}`)
    else ws.send(Buffer.from(`b${i}`))
  }
  const got = await box.take(COUNT, 30_000)
  let wrong = 0
  for (let i = 0; i < COUNT; i++) {
    const expected = i % 2 === 0 ? `echo:m${i}` : `b${i}`
    if (got[i].data.toString() !== expected || got[i].isBinary !== (i % 2 === 1)) wrong++
  }
  t.equal(got.length, COUNT)
  t.equal(wrong, 0, 'every echo matches its message, in order')
  t.equal(upstream.upgrades.length, 1)
  t.equal(upstream.dials.count, 1, 'all messages share one upstream connection')
  ws.close()
})

t.test('a 1 MB message and its echo pass whole', async (t) => {
  const { upstream, ws, box } = await echoTunnel(t, '/large')
  const big = randomBytes(1024 * 1024)
  ws.send(big)
  const [echo] = await box.take(1, 30_000)
  t.equal(echo.isBinary, true)
  t.equal(echo.data.length, big.length)
  t.ok(echo.data.equals(big), 'binary echo is byte for byte the same')

  const bigText = 'x'.repeat(1024 * 1024)
  ws.send(bigText)
  const [textEcho] = await box.take(1, 30_000)
  t.equal(textEcho.data.length, bigText.length + 'echo:'.length)
  t.equal(textEcho.data.toString(), 'echo:' + bigText)
  t.equal(upstream.upgrades.length, 1)
  ws.close()
})

t.test('the upstream sees the normalised path, forwarding headers and no client hop-by-hop headers', async (t) => {
  const { upstream, ws, response, box } = await echoTunnel(t, '/chat//%72oom/?q=a%2Fb', 'WS.test', {
    'X-Forwarded-For': '6.6.6.6',
    'X-Request-Id': 'spoofed-id',
    'X-Forwarded-Host': 'evil.test',
    'X-Custom': 'kept',
  })
  ws.send('ping')
  t.equal((await box.take(1))[0].data.toString(), 'echo:ping')

  t.equal(upstream.upgrades.length, 1)
  const seen = upstream.upgrades[0]
  t.equal(seen.method, 'GET')
  t.equal(seen.url, '/chat/room/?q=a%2Fb', 'the path is normalised, the query kept as sent')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'the client address, not the spoofed one')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-host'], 'WS.test')
  t.match(seen.headers['x-request-id'], UUID, 'a fresh request id, not the spoofed one')
  t.equal(response.headers['x-request-id'], seen.headers['x-request-id'], 'the client gets the same request id')
  t.equal(seen.headers.host, `127.0.0.1:${upstream.port}`, 'the upstream sees its own host')
  t.equal(seen.headers['x-custom'], 'kept', 'end-to-end headers pass')
  t.equal(seen.headers.upgrade, 'websocket')
  t.equal(seen.headers.connection, 'Upgrade')
  t.equal(seen.headers['sec-websocket-version'], '13')
  t.ok(seen.headers['sec-websocket-key'])
  ws.close()
})

t.test('client hop-by-hop headers are dropped from the handshake, the ones it needs are rebuilt', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const key = wsKey()
  const { response, socket, head } = await manualUpgrade(gh.port, '/a/./b/../c//d', {
    Host: 'ws.test',
    Connection: 'Upgrade, X-Hop, Keep-Alive',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    'X-Hop': 'connection-scoped',
    'Keep-Alive': 'timeout=5',
    'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
    'Proxy-Connection': 'keep-alive',
    TE: 'trailers',
    'HTTP2-Settings': 'AAMAAABkAARAAAAAAAIAAAAA',
    'X-End-To-End': 'yes',
  })
  t.teardown(() => socket.destroy())
  t.equal(response.statusCode, 101)
  t.equal(response.headers['sec-websocket-accept'], acceptFor(key), 'the upstream accepted the client key')
  t.equal(response.headers.upgrade, 'websocket')
  t.match(response.headers.connection, /^upgrade$/i)

  // The tunnel carries frames both ways.
  socket.write(clientTextFrame('raw'))
  const echo = await readBytes(socket, serverTextFrame('echo:raw').length, head)
  t.same(echo, serverTextFrame('echo:raw'))

  t.equal(upstream.upgrades.length, 1)
  const seen = upstream.upgrades[0]
  t.equal(seen.url, '/a/c/d', 'dot segments and empty segments removed')
  for (const name of ['x-hop', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'http2-settings']) {
    t.equal(seen.headers[name], undefined, `${name} is not forwarded`)
  }
  t.equal(seen.headers.connection, 'Upgrade', 'Connection carries only the upgrade')
  t.equal(seen.headers.upgrade, 'websocket')
  t.equal(seen.headers['x-end-to-end'], 'yes')
  t.equal(seen.headers['sec-websocket-key'], key)
  // Connection and Upgrade appear once each.
  const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
  t.equal(names.filter((n) => n === 'connection').length, 1)
  t.equal(names.filter((n) => n === 'upgrade').length, 1)
})

t.test('bytes the client sends with the handshake reach the upstream', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const socket = net.connect(gh.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  const key = wsKey()
  // The first frame travels in the same packet as the handshake (Node's `head`).
  socket.write(Buffer.concat([Buffer.from(handshake('/early', 'ws.test', [], key)), clientTextFrame('early')]))
  let got = Buffer.alloc(0)
  const answer = await new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no echo; have ${got.toString('latin1')}`)), 5000)
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      if (got.includes(serverTextFrame('echo:early'))) {
        clearTimeout(timer)
        resolve(got)
      }
    })
  })
  const text = answer.toString('latin1')
  t.match(text, /^HTTP\/1\.1 101 /)
  t.match(text, new RegExp(`sec-websocket-accept: ${acceptFor(key).replace(/[+/]/g, '\\$&')}`, 'i'))
  t.equal(upstream.upgrades.length, 1)
  t.equal(upstream.upgrades[0].url, '/early')
})

t.test('prefix_rewrite applies to websocket paths as to normal requests', async (t) => {
  const { upstream, gh, ws, box } = await echoTunnel(t, '/rewrite/chat/room?x=1')
  ws.send('hi')
  t.equal((await box.take(1))[0].data.toString(), 'echo:hi')
  t.equal(upstream.upgrades.length, 1)
  t.equal(upstream.upgrades[0].url, '/socket/chat/room?x=1')

  const res = await send(gh.port, { host: 'ws.test', path: '/rewrite/chat/room?x=1' })
  t.equal(res.status, 200)
  t.equal(upstream.received.length, 1)
  t.equal(upstream.received[0].url, upstream.upgrades[0].url, 'an ordinary request is rewritten the same way')

  // Outside the rewritten prefix the path is left alone.
  const other = await mustOpen(t, gh, '/rewritex/y')
  other.ws.close()
  t.equal(upstream.upgrades[1].url, '/rewritex/y')
  ws.close()
})

// ---------------------------------------------------------------------------------------
// Refusals before any dial

t.test('a public route without allow_websockets refuses the upgrade with 403', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const opened = await openWs(t, gh, '/x', 'plain.test')
  t.equal(opened.ok, false)
  if (opened.ok) return
  t.equal(opened.status, 403)
  t.match(opened.headers['content-type'], /^application\/json/)
  const body = json(opened.body)
  t.equal(body.error, 'GH_ERR_WEBSOCKETS_DISABLED')
  t.equal(body.status, 403)
  t.match(body.request_id, UUID)
  t.equal(opened.headers['x-request-id'], body.request_id)

  // The same bytes by hand: the connection is closed after the answer.
  const raw = await rawRequest(gh.port, handshake('/x', 'plain.test'))
  t.equal(raw.status, 403)
  t.equal(raw.headers.connection, 'close')
  t.equal(json(raw.body).error, 'GH_ERR_WEBSOCKETS_DISABLED')

  t.same(upstream.upgrades, [], 'no upgrade reached the upstream')
  t.same(upstream.received, [], 'no request reached the upstream')
  t.equal(upstream.dials.count, 0, 'the upstream was never dialled')

  // The route itself works for ordinary requests.
  const res = await send(gh.port, { host: 'plain.test', path: '/x' })
  t.equal(res.status, 200)
  t.equal(upstream.received.length, 1)
})

t.test('a route that needs sign-in refuses the upgrade with 401, like ordinary requests', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const opened = await openWs(t, gh, '/x', 'private.test')
  t.equal(opened.ok, false)
  if (opened.ok) return
  t.equal(opened.status, 401)
  t.equal(json(opened.body).error, 'GH_ERR_UNAUTHENTICATED')

  const res = await send(gh.port, { host: 'private.test', path: '/x' })
  t.equal(res.status, 401, 'an ordinary request gets the same answer')
  t.equal(json(res.body).error, 'GH_ERR_UNAUTHENTICATED')

  t.same(upstream.upgrades, [])
  t.same(upstream.received, [])
  t.equal(upstream.dials.count, 0, 'the upstream was never dialled')
})

t.test('unknown hosts, bad hosts, bad paths and bad methods are refused without dialling', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const cases: [string, string, number, string][] = [
    // request line target, host, status, code
    ['/', 'nope.test', 404, 'GH_ERR_NO_ROUTE'],
    ['/', 'ws.test:8080', 404, 'GH_ERR_NO_ROUTE'],
    ['/', 'x.ws.test', 404, 'GH_ERR_NO_ROUTE'],
    ['/../x', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/a/../../x', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/%2e%2e/x', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/a%2fb', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/a%2Fb', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/a%5cb', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/admin;x=1', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/rewrite/..;/x', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['*', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['http://other.test/x', 'ws.test', 400, 'GH_ERR_BAD_PATH'],
    ['/', 'user@ws.test', 400, 'GH_ERR_BAD_HOST'],
    ['/', 'ws.test:99999', 400, 'GH_ERR_BAD_HOST'],
  ]
  for (const [target, host, status, code] of cases) {
    const res = await rawRequest(gh.port, handshake(target, host))
    t.equal(res.status, status, `${host} ${target} -> ${status}`)
    t.equal(res.body ? json(res.body).error : undefined, code, `${host} ${target} -> ${code}`)
  }

  const post = await rawRequest(gh.port, handshake('/', 'ws.test').replace(/^GET/, 'POST'))
  t.equal(post.status, 400, 'a POST upgrade is refused')
  t.equal(json(post.body).error, 'GH_ERR_BAD_REQUEST')

  t.same(upstream.upgrades, [], 'no upgrade reached the upstream')
  t.same(upstream.received, [], 'no request reached the upstream')
  t.equal(upstream.dials.count, 0, 'the upstream was never dialled')
})

t.test('h2c and other non-websocket upgrades are refused with 400, without dialling', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const h2c = 'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'
  const requests: [string, string][] = [
    ['h2c on a websocket route', h2c],
    ['h2c on a plain route', h2c.replace('ws.test', 'plain.test')],
    ['h2c on a route that needs sign-in', h2c.replace('ws.test', 'private.test')],
    ['h2c on an unknown host', h2c.replace('ws.test', 'nope.test')],
    ['h2c with a bad path', h2c.replace('GET /', 'GET /../x')],
    ['TLS/1.0', 'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: TLS/1.0\r\n\r\n'],
    [
      'websocket with h2c as a second protocol',
      'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ],
    ['an unknown protocol', 'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: upgrade\r\nUpgrade: foo/1\r\n\r\n'],
  ]
  for (const [what, request] of requests) {
    const res = await rawRequest(gh.port, request)
    t.equal(res.status, 400, `${what}: 400`)
    t.equal(json(res.body).error, 'GH_ERR_UPGRADE_UNSUPPORTED', `${what}: GH_ERR_UPGRADE_UNSUPPORTED`)
    t.notMatch(res.raw, /^HTTP\/1\.1 101/, `${what}: never switches protocols`)
  }
  t.same(upstream.upgrades, [])
  t.same(upstream.received, [])
  t.equal(upstream.dials.count, 0, 'the upstream was never dialled')
})

t.test('an Upgrade header without Connection: upgrade is an ordinary request, forwarded without it', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const res = await rawRequest(gh.port, 'GET /plain HTTP/1.1\r\nHost: plain.test\r\nUpgrade: h2c\r\nConnection: close\r\n\r\n')
  t.equal(res.status, 200)
  t.same(upstream.upgrades, [], 'the upstream saw no upgrade')
  t.equal(upstream.received.length, 1)
  t.equal(upstream.received[0].url, '/plain')
  t.equal(upstream.received[0].headers.upgrade, undefined, 'the Upgrade header is not forwarded')
})

// ---------------------------------------------------------------------------------------
// The upstream declines or fails

t.test('an upstream that answers the upgrade with 400 gets its answer relayed and no tunnel', async (t) => {
  const upstream = await startEcho(t, false)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const opened = await openWs(t, gh, '/ws', 'ws.test')
  t.equal(opened.ok, false)
  if (opened.ok) return
  t.equal(opened.status, 400)
  t.match(opened.headers['x-request-id'], UUID)
  t.equal(upstream.upgrades.length, 1, 'the upstream saw the handshake')
  t.equal(upstream.upgrades[0].url, '/ws')

  const raw = await rawRequest(gh.port, handshake('/ws', 'ws.test'))
  t.equal(raw.status, 400)
  t.equal(raw.headers.connection, 'close')
  t.notOk(raw.headers.upgrade, 'no Upgrade header in a refusal')
  t.equal(upstream.upgrades.length, 2)
})

/** An upstream that answers upgrades with a plain response, leaves its socket open and
 *  echoes anything that arrives afterwards: a tunnel must never be built to it. */
async function startDecliningUpstream(t: Test, status: number, body: string) {
  const afterHandshake: Buffer[] = []
  const handshakes: IncomingHttpHeaders[] = []
  const sockets: Duplex[] = []
  const server = http.createServer((_req, res) => res.end('plain'))
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handshakes.push(req.headers)
    sockets.push(socket)
    if (head.length > 0) afterHandshake.push(head)
    socket.on('data', (chunk: Buffer) => {
      afterHandshake.push(chunk)
      socket.write(chunk)
    })
    socket.on('error', () => {})
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nx-upstream: yes\r\n\r\n${body}`,
    )
    if (head.length > 0) socket.write(head)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handshakes, afterHandshake, sockets }
}

for (const [status, body] of [
  [403, 'nope'],
  [200, 'ok'],
] as const) {
  t.test(`an upstream that answers the upgrade with a plain ${status} gets it relayed, then the connection closes`, async (t) => {
    const upstream = await startDecliningUpstream(t, status, body)
    const gh = await startProxy(t, routesFor(upstream.origin))

    const socket = net.connect(gh.port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    const errors: string[] = []
    socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message))
    await once(socket, 'connect')
    // A frame right behind the handshake: it must not reach the upstream either.
    socket.write(Buffer.concat([Buffer.from(handshake('/ws', 'ws.test')), clientTextFrame('early')]))
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    let sentLate = false
    socket.once('data', () => {
      // Once the answer starts, try to talk through a tunnel that must not exist.
      if (socket.writable) sentLate = socket.write(clientTextFrame('late'))
    })
    await once(socket, 'close', 5000)
    const text = Buffer.concat(chunks).toString('latin1')
    const [head, ...rest] = text.split('\r\n\r\n')
    t.match(head, new RegExp(`^HTTP/1\\.1 ${status} `))
    t.match(head, /\r\nconnection: close/i)
    t.match(head, /\r\nx-upstream: yes/i, 'the upstream headers are relayed')
    t.match(head, /\r\nx-request-id: /i)
    t.notMatch(head, /\r\nupgrade:/i)
    t.equal(rest.join('\r\n\r\n'), body, 'the body, and nothing echoed after it')
    t.comment(`late frame written: ${sentLate}`)

    t.equal(upstream.handshakes.length, 1, 'the upstream saw the handshake')
    t.equal(upstream.handshakes[0].upgrade, 'websocket')
    t.same(upstream.afterHandshake, [], 'no byte from the client reached the upstream after the handshake')
  })
}

const openConnections = (gh: RunningGatehouse) =>
  new Promise<number>((resolve, reject) => gh.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))))

async function waitForNoConnections(gh: RunningGatehouse, timeoutMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let n = await openConnections(gh)
  while (n > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20))
    n = await openConnections(gh)
  }
  return n
}

t.test('a refused upgrade leaves no connection open, whatever the client does next', async (t) => {
  const upstream = await startEcho(t)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const variants: [string, (socket: Socket) => void][] = [
    ['a client that keeps its side open', () => {}],
    [
      'a client that keeps sending after the refusal',
      (socket) => {
        const timer = setInterval(() => (socket.writable ? socket.write(clientTextFrame('more')) : clearInterval(timer)), 10)
        socket.once('close', () => clearInterval(timer))
      },
    ],
  ]
  for (const [what, behave] of variants) {
    // allowHalfOpen: the client does not close its side when the proxy closes its own.
    const socket = net.connect({ port: gh.port, host: '127.0.0.1', allowHalfOpen: true })
    t.teardown(() => socket.destroy())
    socket.on('error', () => {})
    await once(socket, 'connect')
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.write(handshake('/x', 'plain.test'))
    await once(socket, 'end')
    behave(socket)
    t.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 403 /, `${what}: refused`)
    t.equal(await waitForNoConnections(gh), 0, `${what}: the proxy closed its socket`)
    socket.destroy()
  }
  t.equal(upstream.dials.count, 0, 'the upstream was never dialled')

  // And shutdown is not held up by such clients.
  const lingering = net.connect({ port: gh.port, host: '127.0.0.1', allowHalfOpen: true })
  t.teardown(() => lingering.destroy())
  lingering.on('error', () => {})
  lingering.resume()
  await once(lingering, 'connect')
  lingering.write(handshake('/x', 'nope.test'))
  await once(lingering, 'end')
  const started = Date.now()
  await within(gh.close(), 5000, 'app.close() hung')
  t.ok(Date.now() - started < 5000, 'app.close() finished')
})

t.test('a client that leaves during a relayed answer ends the upstream request', async (t) => {
  // The upstream declines the upgrade with an endless streamed answer.
  const upstreamSockets: Duplex[] = []
  const server = http.createServer()
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
    upstreamSockets.push(socket)
    socket.on('error', () => {})
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n')
    const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write('5\r\nhello\r\n')), 10)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of upstreamSockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  const gh = await startProxy(t, routesFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))

  const socket = net.connect(gh.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write(handshake('/stream', 'ws.test'))
  const [first] = await once<[Buffer]>(socket, 'data')
  t.match(first.toString('latin1'), /^HTTP\/1\.1 200 /, 'the answer is relayed')
  await readBytes(socket, 'hellohello'.length + first.length, first)
  socket.destroy()

  t.equal(upstreamSockets.length, 1)
  await closed(upstreamSockets[0])
  t.ok(upstreamSockets[0].destroyed, 'the upstream connection closed with the client')
  t.equal(await waitForNoConnections(gh), 0)
})

t.test('an unreachable upstream answers 502 and the proxy keeps serving', async (t) => {
  const upstream = await startEcho(t)
  const port = await closedPort()
  const gh = await startProxy(
    t,
    routesFor(
      upstream.origin,
      `  - from: http://down.test
    to: http://127.0.0.1:${port}
    allow_websockets: true
    allow_public_unauthenticated_access: true
`,
    ),
  )
  for (let i = 0; i < 3; i++) {
    const opened = await openWs(t, gh, '/ws', 'down.test')
    t.equal(opened.ok, false)
    if (opened.ok) return
    t.equal(opened.status, 502)
    t.equal(json(opened.body).error, 'GH_ERR_UPSTREAM_UNAVAILABLE')
  }
  const raw = await rawRequest(gh.port, handshake('/ws', 'down.test'))
  t.equal(raw.status, 502)
  t.equal(raw.headers.connection, 'close')

  // Still serving: a websocket to a live upstream, and an ordinary request.
  const { ws } = await mustOpen(t, gh, '/after')
  const box = inbox(ws)
  ws.send('still here')
  t.equal((await box.take(1))[0].data.toString(), 'echo:still here')
  const res = await send(gh.port, { host: 'plain.test', path: '/after' })
  t.equal(res.status, 200)
  t.equal(upstream.upgrades.length, 1)
  t.equal(upstream.received.length, 1)
  t.ok(
    gh.logs.some((l) => l.msg === 'websocket upstream failed'),
    'the failure is logged',
  )
  ws.close()
})

// ---------------------------------------------------------------------------------------
// Closing

/** `echoTunnel`, once a message has gone both ways through it. */
async function usedTunnel(t: Test, path: string) {
  const tunnel = await echoTunnel(t, path)
  tunnel.ws.send('x')
  await tunnel.box.take(1)
  return tunnel
}

t.test('when the client closes, the upstream socket closes', async (t) => {
  const { sockets, ws } = await usedTunnel(t, '/close')
  t.equal(sockets.length, 1)
  const closing = once<[number, Buffer]>(ws, 'close')
  ws.close(1000, 'done')
  const [code] = await closing
  t.equal(code, 1000, 'the close handshake completed through the tunnel')
  await closed(sockets[0])
  t.ok(sockets[0].destroyed, 'the upstream socket closed')
})

t.test('when the client drops the connection, the upstream socket closes', async (t) => {
  const { sockets, ws } = await usedTunnel(t, '/drop')
  ws.terminate()
  await closed(sockets[0])
  t.ok(sockets[0].destroyed, 'the upstream socket closed')
})

t.test('when the upstream drops the connection, the client connection closes', async (t) => {
  const { upstream, sockets, ws } = await usedTunnel(t, '/drop')
  const closing = once<[number, Buffer]>(ws, 'close')
  sockets[0].destroy()
  const [code] = await closing
  t.equal(code, 1006, 'an abnormal close, seen by the client')
  t.equal(upstream.upgrades.length, 1)
})

t.test('when the upstream closes the websocket, the client sees its code and reason', async (t) => {
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  const upstreamCloses: number[] = []
  const paths: string[] = []
  wss.on('connection', (ws, req) => {
    paths.push(req.url ?? '')
    ws.on('message', (data) => {
      if (data.toString() === 'bye') ws.close(4001, 'upstream says bye')
    })
    ws.on('close', (code) => upstreamCloses.push(code))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        wss.close()
        server.close(() => resolve())
      }),
  )
  const gh = await startProxy(t, routesFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  const { ws } = await mustOpen(t, gh, '/graceful')
  const closing = once<[number, Buffer]>(ws, 'close')
  ws.send('bye')
  const [code, reason] = await closing
  t.equal(code, 4001)
  t.equal(reason.toString(), 'upstream says bye')
  // The upstream's own close completes once the client echoes the close frame.
  const deadline = Date.now() + 5000
  while (upstreamCloses.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.same(upstreamCloses, [4001], 'the upstream saw its close handshake complete')
  t.same(paths, ['/graceful'])
})

t.test('app.close() destroys open tunnels', async (t) => {
  const upstream = await startEcho(t)
  const sockets = upgradeSockets(upstream.server)
  const gh = await startProxy(t, routesFor(upstream.origin))
  const clients: WebSocket[] = []
  for (let i = 0; i < 3; i++) {
    const { ws } = await mustOpen(t, gh, `/open/${i}`)
    const box = inbox(ws)
    ws.send(`m${i}`)
    t.equal((await box.take(1))[0].data.toString(), `echo:m${i}`)
    clients.push(ws)
  }
  t.equal(sockets.length, 3)
  const clientCloses = clients.map((ws) => once<[number]>(ws, 'close', 10_000))
  const started = Date.now()
  await within(gh.close(), 5000, 'app.close() did not finish with tunnels open')
  t.ok(Date.now() - started < 5000, 'close finished')
  const codes = (await Promise.all(clientCloses)).map(([code]) => code)
  t.same(codes, [1006, 1006, 1006], 'every client connection was cut')
  await Promise.all(sockets.map((s) => closed(s)))
  t.ok(
    sockets.every((s) => s.destroyed),
    'every upstream socket closed',
  )
  t.same(
    upstream.upgrades.map((u) => u.url),
    ['/open/0', '/open/1', '/open/2'],
  )

  // A new connection is no longer accepted.
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(gh.port, '127.0.0.1')
    s.on('error', () => resolve(true))
    s.on('connect', () => {
      s.destroy()
      resolve(false)
    })
  })
  t.ok(refused, 'the listener is closed')
})

t.test('app.close() during a handshake still waiting for its upstream leaves no tunnel behind', async (t) => {
  // The upstream takes the handshake but answers only when told to.
  const server = http.createServer()
  const wss = new WebSocketServer({ noServer: true })
  const held: (() => void)[] = []
  const upstreamOpened: string[] = []
  const upstreamClosed: string[] = []
  let arrived!: () => void
  const handshakeArrived = new Promise<void>((resolve) => (arrived = resolve))
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {})
    held.push(() =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        upstreamOpened.push(req.url ?? '')
        ws.on('close', () => upstreamClosed.push(req.url ?? ''))
      }),
    )
    arrived()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const gh = await startProxy(t, routesFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))

  const ws = new WebSocket(`ws://127.0.0.1:${gh.port}/held`, { headers: { host: 'ws.test' } })
  t.teardown(() => ws.terminate())
  let opened = false
  ws.on('open', () => (opened = true))
  ws.on('error', () => {})
  const clientClosed = once<[number]>(ws, 'close', 10_000)
  await handshakeArrived

  const closing = gh.close()
  // The upstream accepts only after shutdown has begun.
  setTimeout(() => held.forEach((answer) => answer()), 100)
  await within(closing, 5000, 'app.close() hung')
  const [code] = await clientClosed
  t.equal(code, 1006, 'the client connection was cut')
  t.equal(opened, false, 'the client never got a tunnel')
  // Whatever the upstream did with its late answer, its side is closed too.
  await new Promise((r) => setTimeout(r, 300))
  t.same(upstreamClosed, upstreamOpened, 'every upstream websocket that opened was closed')
  t.equal(wss.clients.size, 0, 'no upstream websocket is left open')
})
