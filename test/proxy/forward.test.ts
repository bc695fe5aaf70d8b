// Forwarding against real upstreams: routing by host and path, path rewriting, streaming
// in both directions, keep-alive reuse and weighted round robin. Every test checks what
// the client got and what the upstream recorded.

import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { readReply, request, type Reply } from '../helpers/client.js'
import { gatehouse, publicRoute } from '../helpers/gatehouse.js'
import { upstream, type EchoUpstream } from '../helpers/upstream.js'

const json = (reply: Reply) => JSON.parse(reply.text) as Record<string, unknown>

function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (err: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

t.test('routing by Host', async (t) => {
  const a = await upstream(t)
  const b = await upstream(t)
  const ported = await upstream(t)
  const gh = await gatehouse(
    t,
    `routes:\n${publicRoute('http://app.test', a.origin)}${publicRoute('http://other.test', b.origin)}${publicRoute('http://ported.test:8080', ported.origin)}`,
  )

  const cases: [string, EchoUpstream][] = [
    ['app.test', a],
    ['APP.Test', a],
    ['app.test:80', a],
    ['app.test.', a],
    ['App.Test.:80', a],
    ['other.test', b],
    ['OTHER.TEST:80', b],
    ['ported.test:8080', ported],
    ['Ported.Test.:8080', ported],
  ]
  for (const [host, expected] of cases) {
    const before = [a.received.length, b.received.length, ported.received.length]
    const reply = await request(gh.port, { path: `/which?host=${encodeURIComponent(host)}`, headers: { host } })
    t.equal(reply.status, 200, `${host} answered`)
    t.equal(json(reply).url, `/which?host=${encodeURIComponent(host)}`, `${host}: the client got the upstream's echo`)
    const after = [a.received.length, b.received.length, ported.received.length]
    const grew = after.map((n, i) => n - before[i])
    const index = [a, b, ported].indexOf(expected)
    t.same(
      grew,
      [0, 1, 2].map((i) => (i === index ? 1 : 0)),
      `${host} reached only its own upstream`,
    )
    t.equal(expected.received.at(-1)!.url, `/which?host=${encodeURIComponent(host)}`)
  }

  // A port the route does not name is a different host.
  const wrongPort = await request(gh.port, { headers: { host: 'ported.test' } })
  t.equal(wrongPort.status, 404)
  const wrongPort2 = await request(gh.port, { headers: { host: 'app.test:8080' } })
  t.equal(wrongPort2.status, 404)
  t.equal(a.received.length + b.received.length + ported.received.length, cases.length, 'no upstream saw the unrouted requests')
})

t.test('404 for unknown hosts and unmatched paths, 401 for non-public routes', async (t) => {
  const u = await upstream(t)
  const locked = await upstream(t)
  const gh = await gatehouse(
    t,
    `routes:\n${publicRoute('http://app.test', u.origin, '    prefix: /only\n')}  - from: http://locked.test\n    to: ${locked.origin}\n    allow_any_authenticated_user: true\n  - from: http://nopolicy.test\n    to: ${locked.origin}\n`,
  )

  const unknownHost = await request(gh.port, { path: '/only/x', headers: { host: 'nobody.test' } })
  t.equal(unknownHost.status, 404)
  t.match(unknownHost.headers['content-type'], /^application\/json/)
  t.equal(unknownHost.headers['cache-control'], 'no-store')
  const body = json(unknownHost)
  t.match(body, { error: 'GH_ERR_NO_ROUTE', status: 404 })
  t.equal(body.request_id, unknownHost.headers['x-request-id'], 'the page carries the request id it answers with')

  const html = await request(gh.port, { path: '/only/x', headers: { host: 'nobody.test', accept: 'text/html,application/xhtml+xml' } })
  t.equal(html.status, 404)
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.text, /<!doctype html>/)
  t.match(html.text, /GH_ERR_NO_ROUTE/)
  t.match(html.text, html.headers['x-request-id'] as string)

  const unmatched = await request(gh.port, { path: '/other', headers: { host: 'app.test' } })
  t.equal(unmatched.status, 404)
  t.match(json(unmatched), { error: 'GH_ERR_NO_ROUTE' })
  const unmatchedHtml = await request(gh.port, { path: '/other', headers: { host: 'app.test', accept: 'text/html' } })
  t.equal(unmatchedHtml.status, 404)
  t.match(unmatchedHtml.text, /GH_ERR_NO_ROUTE/)

  const signIn = await request(gh.port, { path: '/', headers: { host: 'locked.test' } })
  t.equal(signIn.status, 401)
  t.match(json(signIn), { error: 'GH_ERR_UNAUTHENTICATED', status: 401 })
  t.equal(
    json(signIn).sign_in_url,
    `http://locked.test/.gatehouse/sign_in?rd=${encodeURIComponent('http://locked.test/')}`,
    'APIs get the sign-in URL to follow themselves',
  )
  const signInHtml = await request(gh.port, { path: '/', headers: { host: 'locked.test', accept: 'text/html' } })
  t.equal(signInHtml.status, 302, 'a browser is sent to sign in')
  t.equal(signInHtml.headers.location, `http://locked.test/.gatehouse/sign_in?rd=${encodeURIComponent('http://locked.test/')}`)

  const forbidden = await request(gh.port, { path: '/', headers: { host: 'nopolicy.test' } })
  t.equal(forbidden.status, 403, 'a route without any policy denies everyone')
  t.match(json(forbidden), { error: 'GH_ERR_FORBIDDEN', status: 403 })

  t.equal(u.received.length, 0, 'the public upstream saw nothing')
  t.equal(locked.received.length, 0, 'the locked upstream saw nothing')

  // The route itself works, so the zero counts above mean something.
  const ok = await request(gh.port, { path: '/only/x', headers: { host: 'app.test' } })
  t.equal(ok.status, 200)
  t.equal(u.received.length, 1)
  t.equal(u.received[0].url, '/only/x')
})

t.test('the upstream sees the normalised path and the raw query', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  const cases: [string, string][] = [
    ['/a/../b', '/b'],
    ['/a/./b//c', '/a/b/c'],
    ['//x', '/x'],
    ['/%61dmin', '/admin'],
    ['/q?x=1&y=/../z', '/q?x=1&y=/../z'],
    ['/q?a=%20b&c=%2F&d=%zz&e', '/q?a=%20b&c=%2F&d=%zz&e'],
    ['/a/../b?q=a+b', '/b?q=a+b'],
  ]
  for (const [sent, expected] of cases) {
    const reply = await request(gh.port, { path: sent, headers: { host: 'app.test' } })
    t.equal(reply.status, 200, sent)
    t.equal(json(reply).url, expected, `${sent}: client got the echo of ${expected}`)
    t.equal(u.received.at(-1)!.url, expected, `${sent}: upstream saw ${expected}`)
  }
  t.equal(u.received.length, cases.length)

  // A path that climbs above the root is refused before it reaches anyone.
  const climb = await request(gh.port, { path: '/a/../..', headers: { host: 'app.test' } })
  t.equal(climb.status, 400)
  t.match(json(climb), { error: 'GH_ERR_BAD_PATH' })
  t.equal(u.received.length, cases.length, 'the refused path never reached the upstream')
})

t.test('methods, bodies and HEAD', async (t) => {
  const u = await upstream(t, (req, res, body) => {
    const text = JSON.stringify({ method: req.method, body })
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-upstream': 'yes' })
    res.end(text)
  })
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)

  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const reply = await request(gh.port, { method, path: '/m', headers: { host: 'app.test', 'content-type': 'text/plain' }, body: `body of ${method}` })
    t.equal(reply.status, 201, method)
    t.same(json(reply), { method, body: `body of ${method}` })
    const seen = u.received.at(-1)!
    t.equal(seen.method, method)
    t.equal(seen.body, `body of ${method}`)
    t.equal(seen.headers['content-length'], String(Buffer.byteLength(`body of ${method}`)), `${method} keeps the declared length`)
    t.equal(seen.headers['content-type'], 'text/plain')
  }

  const get = await request(gh.port, { path: '/g', headers: { host: 'app.test' } })
  t.equal(get.status, 201)
  t.equal(u.received.at(-1)!.body, '')
  t.equal(u.received.at(-1)!.headers['content-length'], undefined, 'a GET without a body gets no framing headers')
  t.equal(u.received.at(-1)!.headers['transfer-encoding'], undefined)

  const head = await request(gh.port, { method: 'HEAD', path: '/h', headers: { host: 'app.test' } })
  t.equal(head.status, 201)
  t.equal(head.body.length, 0, 'HEAD answers carry no body')
  t.equal(head.headers['x-upstream'], 'yes')
  t.equal(u.received.at(-1)!.method, 'HEAD')

  const trace = await request(gh.port, { method: 'TRACE', path: '/t', headers: { host: 'app.test', cookie: 'secret=1' } })
  t.equal(trace.status, 405)
  t.match(json(trace), { error: 'GH_ERR_METHOD_NOT_ALLOWED' })
  t.notMatch(trace.text, /secret/, 'TRACE does not echo the request')
  t.notOk(
    u.received.some((r) => r.method === 'TRACE'),
    'TRACE never reached the upstream',
  )
  t.equal(u.received.length, 6)
})

/** Writes `total` bytes of printable random text in `chunk`-sized pieces, honouring
 *  backpressure; returns the sha256 of what was written. */
async function writeGenerated(out: NodeJS.WritableStream, total: number, chunk: number): Promise<string> {
  const hash = createHash('sha256')
  for (let written = 0; written < total;) {
    const size = Math.min(chunk, total - written)
    // base64 of random bytes: printable, so it survives the echo helper's utf8 decoding.
    const piece = Buffer.from(
      randomBytes(Math.ceil((size * 3) / 4))
        .toString('base64')
        .slice(0, size),
    )
    hash.update(piece)
    written += size
    if (!out.write(piece)) await new Promise((resolve) => out.once('drain', resolve))
  }
  return hash.digest('hex')
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

t.test('a 20 MB chunked upload arrives intact', async (t) => {
  const u = await upstream(t, (_req, res, body) => {
    const text = JSON.stringify({ length: Buffer.byteLength(body), sha256: sha256(body) })
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(text)
  })
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  const total = 20 * 1024 * 1024
  const { reply, hash } = await new Promise<{ reply: Reply; hash: string }>((resolve, reject) => {
    let hash = ''
    const req = http.request(
      {
        host: '127.0.0.1',
        port: gh.port,
        method: 'POST',
        path: '/upload',
        headers: { host: 'app.test', 'content-type': 'application/octet-stream' },
        agent: false,
      },
      (res) => {
        readReply(res).then((reply) => resolve({ reply, hash }), reject)
      },
    )
    req.on('error', reject)
    writeGenerated(req, total, 64 * 1024).then((h) => {
      hash = h
      req.end()
    }, reject)
  })
  t.equal(reply.status, 200)
  t.same(json(reply), { length: total, sha256: hash }, 'the upstream reports the exact bytes sent')
  t.equal(u.received.length, 1)
  const seen = u.received[0]
  t.equal(seen.method, 'POST')
  t.equal(seen.body.length, total)
  t.equal(sha256(seen.body), hash)
  t.equal(seen.headers['transfer-encoding'], 'chunked', 'a chunked upload stays streamed')
  t.equal(seen.headers['content-length'], undefined)
})

t.test('uploads stream: the upstream sees the first chunk before the client finishes', async (t) => {
  // A bare server, since the echo helper only looks at a body once it is complete.
  const firstChunk = deferred<string>()
  let seenBody = ''
  let seenEndBeforeFirst = false
  let ended = false
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      if (!seenBody) firstChunk.resolve(c.toString())
      seenBody += c.toString()
    })
    req.on('end', () => {
      ended = true
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`got ${seenBody.length}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', origin)}`)

  const replyPromise = new Promise<Reply>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gh.port, method: 'PUT', path: '/up', headers: { host: 'app.test' }, agent: false }, (res) => {
      readReply(res).then(resolve, reject)
    })
    req.on('error', reject)
    req.write('first-part;')
    const guard = setTimeout(() => firstChunk.reject(new Error('the upstream saw nothing while the upload was open')), 5000)
    firstChunk.promise.then(
      () => {
        clearTimeout(guard)
        seenEndBeforeFirst = ended
        req.end('second-part')
      },
      (err) => {
        clearTimeout(guard)
        req.end('second-part')
        reject(err)
      },
    )
  })
  const first = await firstChunk.promise
  t.equal(first, 'first-part;', 'the upstream got the first chunk while the client still held the request open')
  t.equal(seenEndBeforeFirst, false)
  const reply = await replyPromise
  t.equal(reply.status, 200)
  t.equal(reply.text, `got ${'first-part;second-part'.length}`)
  t.equal(seenBody, 'first-part;second-part')
})

t.test('responses stream: the client gets the first chunk before the upstream finishes', async (t) => {
  const release = deferred<void>()
  let upstreamFinished = false
  const u = await upstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('first chunk|')
    void release.promise.then(() => {
      upstreamFinished = true
      res.end('rest')
    })
  })
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)

  const result = await new Promise<{ first: string; finishedAtFirst: boolean; body: string; status: number }>((resolve, reject) => {
    // If the proxy buffered whole bodies the first chunk would never come; release the
    // upstream after a while anyway so the test fails instead of hanging.
    const guard = setTimeout(() => release.resolve(), 5000)
    const req = http.request({ host: '127.0.0.1', port: gh.port, path: '/stream', headers: { host: 'app.test' }, agent: false }, (res) => {
      let body = ''
      let first: string | undefined
      let finishedAtFirst = false
      res.on('data', (c: Buffer) => {
        if (first === undefined) {
          first = c.toString()
          finishedAtFirst = upstreamFinished
          clearTimeout(guard)
          release.resolve()
        }
        body += c.toString()
      })
      res.on('end', () => resolve({ first: first ?? '', finishedAtFirst, body, status: res.statusCode! }))
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(result.status, 200)
  t.equal(result.first, 'first chunk|', 'the first chunk arrived on its own')
  t.equal(result.finishedAtFirst, false, 'the upstream had not finished when the client got it')
  t.equal(result.body, 'first chunk|rest')
  t.equal(u.received.length, 1)
  t.equal(u.received[0].url, '/stream')
})

t.test('a 20 MB download arrives intact', async (t) => {
  const total = 20 * 1024 * 1024
  let sentHash = ''
  const u = await upstream(t, (req, res) => {
    const withLength = req.url === '/big?length'
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(withLength ? { 'content-length': total } : {}) })
    void writeGenerated(res, total, 256 * 1024).then((h) => {
      sentHash = h
      res.end()
    })
  })
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  for (const path of ['/big', '/big?length']) {
    const got = await new Promise<{ status: number; length: number; hash: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: gh.port, path, headers: { host: 'app.test' }, agent: false }, (res) => {
        const hash = createHash('sha256')
        let length = 0
        res.on('data', (c: Buffer) => {
          hash.update(c)
          length += c.length
        })
        res.on('end', () => resolve({ status: res.statusCode!, length, hash: hash.digest('hex'), headers: res.headers }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
    t.equal(got.status, 200, path)
    t.equal(got.length, total, `${path}: every byte arrived`)
    t.equal(got.hash, sentHash, `${path}: the bytes are the upstream's`)
    if (path === '/big?length') t.equal(got.headers['content-length'], String(total), 'a declared length is passed on')
    else t.equal(got.headers['transfer-encoding'], 'chunked')
    t.equal(u.received.at(-1)!.url, path)
  }
  t.equal(u.received.length, 2)
})

t.test('sequential requests reuse one upstream connection', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  for (let i = 0; i < 6; i++) {
    const reply = await request(gh.port, { path: `/k${i}`, headers: { host: 'app.test' } })
    t.equal(reply.status, 200)
    t.equal(json(reply).url, `/k${i}`)
  }
  t.equal(u.received.length, 6)
  t.same(new Set(u.received.map((r) => r.socketId)).size, 1, 'one upstream socket carried all six requests')
  t.same(
    u.received.map((r) => r.url),
    ['/k0', '/k1', '/k2', '/k3', '/k4', '/k5'],
  )
})

t.test('weighted upstreams: 3:1 split, smoothly interleaved', async (t) => {
  const a = await upstream(t)
  const b = await upstream(t)
  const gh = await gatehouse(
    t,
    `routes:\n  - from: http://app.test\n    to:\n      - ${a.origin},3\n      - ${b.origin},1\n    allow_public_unauthenticated_access: true\n`,
  )
  const order: string[] = []
  for (let i = 0; i < 40; i++) {
    const before = a.received.length
    const reply = await request(gh.port, { path: `/w${i}`, headers: { host: 'app.test' } })
    t.equal(reply.status, 200)
    order.push(a.received.length > before ? 'a' : 'b')
  }
  t.equal(a.received.length, 30, 'a (weight 3) got 30 of 40')
  t.equal(b.received.length, 10, 'b (weight 1) got 10 of 40')
  t.equal(a.received.length + b.received.length, 40)
  // Smooth round robin spreads b out: exactly one b in every block of four, never aaaa.
  for (let i = 0; i < 40; i += 4) t.equal(order.slice(i, i + 4).filter((x) => x === 'b').length, 1, `block ${i / 4}: ${order.slice(i, i + 4).join('')}`)
  t.notMatch(order.join(''), /aaaa/, 'never four in a row on a')
  t.notMatch(order.join(''), /bb/, 'never two in a row on b')
  // Each upstream saw a distinct subset of the requests, in order.
  const seen = [...a.received, ...b.received].map((r) => r.url).sort()
  t.same(seen, Array.from({ length: 40 }, (_, i) => `/w${i}`).sort())
})

t.test('prefix_rewrite, exact path and regex routes', async (t) => {
  const api = await upstream(t)
  const v2 = await upstream(t)
  const exact = await upstream(t)
  const moved = await upstream(t)
  const regex = await upstream(t)
  const fallback = await upstream(t)
  const gh = await gatehouse(
    t,
    `routes:
  - from: http://app.test
    to: ${api.origin}
    prefix: /api
    prefix_rewrite: /
    allow_public_unauthenticated_access: true
  - from: http://app.test
    to: ${v2.origin}
    prefix: /old/
    prefix_rewrite: /v2/
    allow_public_unauthenticated_access: true
  - from: http://app.test
    to: ${exact.origin}
    path: /exact
    allow_public_unauthenticated_access: true
  - from: http://app.test
    to: ${moved.origin}
    path: /moved
    prefix_rewrite: /new/home
    allow_public_unauthenticated_access: true
  - from: http://app.test
    to: ${regex.origin}
    regex: '/items/[0-9]+'
    allow_public_unauthenticated_access: true
  - from: http://regexonly.test
    to: ${regex.origin}
    regex: '/r/[a-z]+'
    allow_public_unauthenticated_access: true
  - from: http://fallback.test
    to: ${fallback.origin}
    allow_public_unauthenticated_access: true
`,
  )
  const cases: [string, string, EchoUpstream, string][] = [
    // host, sent, upstream, upstream path
    ['app.test', '/api/x', api, '/x'],
    ['app.test', '/api/x/y?z=1', api, '/x/y?z=1'],
    ['app.test', '/api', api, '/'],
    ['app.test', '/api/', api, '/'],
    ['app.test', '/old/page', v2, '/v2/page'],
    ['app.test', '/old/a/../b', v2, '/v2/b'],
    ['app.test', '/exact', exact, '/exact'],
    ['app.test', '/exact?q=1', exact, '/exact?q=1'],
    ['app.test', '/moved', moved, '/new/home'],
    ['app.test', '/moved?x', moved, '/new/home?x'],
    ['app.test', '/items/42', regex, '/items/42'],
    ['app.test', '/items/7?full=1', regex, '/items/7?full=1'],
    ['regexonly.test', '/r/abc', regex, '/r/abc'],
    ['fallback.test', '/anything/at/all', fallback, '/anything/at/all'],
  ]
  const all = [api, v2, exact, moved, regex, fallback]
  for (const [host, sent, target, expected] of cases) {
    const counts = all.map((u) => u.received.length)
    const reply = await request(gh.port, { path: sent, headers: { host } })
    t.equal(reply.status, 200, `${host}${sent}`)
    t.equal(json(reply).url, expected, `${host}${sent}: client got the echo of ${expected}`)
    t.equal(target.received.at(-1)!.url, expected, `${host}${sent} reached its upstream as ${expected}`)
    t.same(
      all.map((u) => u.received.length - counts[all.indexOf(u)]),
      all.map((u) => (u === target ? 1 : 0)),
      `${host}${sent}: only that upstream saw it`,
    )
  }

  const total = () => all.reduce((n, u) => n + u.received.length, 0)
  const before = total()
  for (const [host, sent] of [
    ['app.test', '/exact/'],
    ['app.test', '/exact/x'],
    ['app.test', '/items/abc'],
    ['app.test', '/items/42/more'],
    ['app.test', '/old'],
    ['regexonly.test', '/r/ABC'],
    ['regexonly.test', '/r/abc/'],
  ]) {
    const reply = await request(gh.port, { path: sent, headers: { host } })
    t.equal(reply.status, 404, `${host}${sent} matches nothing`)
    t.match(json(reply), { error: 'GH_ERR_NO_ROUTE' })
  }
  t.equal(total(), before, 'unmatched paths reached no upstream')
})

t.test('the proxy is still up', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  const ping = await request(gh.port, { path: '/ping', headers: { host: 'app.test' } })
  t.equal(ping.status, 200)
  t.equal(ping.text, 'OK')
  t.equal(u.received.length, 0, 'probes are answered by Gatehouse itself')
})
