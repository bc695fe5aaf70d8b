// Headers on the way up and down: Host modes, set/remove headers, X-Forwarded-*,
// request ids and hop-by-hop headers, each checked at the client and at the upstream.

import t, { type Test } from 'tap'
import { request } from '../helpers/client.js'
import { gatehouse, publicRoute } from '../helpers/gatehouse.js'
import { rawRequest } from '../helpers/raw.js'
import { upstream, type Received } from '../helpers/upstream.js'

/** Every value a header name has in a raw header list (case-insensitive). */
const rawValues = (rawHeaders: string[], name: string) => {
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1])
  return out
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** One public route, http://app.test to `origin`. */
const appRoute = (origin: string) => `routes:\n${publicRoute('http://app.test', origin)}`

t.test('Host header: upstream default, preserve_host_header, host_rewrite', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(
    t,
    `routes:
  - from: http://default.test
    to: ${u.origin}
    allow_public_unauthenticated_access: true
  - from: http://preserve.test
    to: ${u.origin}
    preserve_host_header: true
    allow_public_unauthenticated_access: true
  - from: http://rewrite.test
    to: ${u.origin}
    host_rewrite: internal.example:9000
    allow_public_unauthenticated_access: true
`,
  )
  const cases: [string, string][] = [
    ['default.test', `127.0.0.1:${u.port}`],
    ['Default.Test:80', `127.0.0.1:${u.port}`],
    ['preserve.test', 'preserve.test'],
    ['Preserve.Test:80', 'Preserve.Test:80'],
    ['rewrite.test', 'internal.example:9000'],
  ]
  for (const [clientHost, upstreamHost] of cases) {
    const reply = await request(gh.port, { path: '/h', headers: { host: clientHost } })
    t.equal(reply.status, 200, clientHost)
    t.equal((JSON.parse(reply.text) as Received).headers.host, upstreamHost, `${clientHost}: the client got the echo`)
    const seen = u.received.at(-1)!
    t.same(rawValues(seen.rawHeaders, 'host'), [upstreamHost], `${clientHost}: the upstream saw exactly one Host, ${upstreamHost}`)
    t.equal(seen.headers['x-forwarded-host'], clientHost, 'X-Forwarded-Host keeps what the client asked for')
  }
  t.equal(u.received.length, cases.length)
})

t.test('set_request_headers, remove_request_headers, set_response_headers', async (t) => {
  const u = await upstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-frame-options': 'SAMEORIGIN', 'x-upstream-only': 'kept', server: 'upstream/1.0' })
    res.end('ok')
  })
  const gh = await gatehouse(
    t,
    `routes:
  - from: http://app.test
    to: ${u.origin}
    allow_public_unauthenticated_access: true
    set_request_headers:
      X-Custom: from-config
      X-Added: added
    remove_request_headers:
      - X-Remove-Me
      - cookie
    set_response_headers:
      X-Frame-Options: DENY
      Strict-Transport-Security: max-age=31536000
`,
  )
  const reply = await request(gh.port, {
    path: '/s',
    headers: { host: 'app.test', 'x-custom': 'from-client', 'X-Remove-Me': 'secret', cookie: 'session=abc', 'x-kept': 'yes' },
  })
  t.equal(reply.status, 200)
  t.equal(reply.text, 'ok')
  t.same(rawValues(reply.rawHeaders, 'x-frame-options'), ['DENY'], "set_response_headers replaces the upstream's value")
  t.equal(reply.headers['strict-transport-security'], 'max-age=31536000')
  t.equal(reply.headers['x-upstream-only'], 'kept', 'other upstream headers pass through')
  t.equal(reply.headers.server, 'upstream/1.0')

  t.equal(u.received.length, 1)
  const seen = u.received[0]
  t.same(rawValues(seen.rawHeaders, 'x-custom'), ['from-config'], 'set_request_headers overrides the client header of the same name')
  t.equal(seen.headers['x-added'], 'added')
  t.equal(seen.headers['x-remove-me'], undefined, 'remove_request_headers drops the header')
  t.equal(seen.headers.cookie, undefined, 'remove_request_headers matches names case-insensitively')
  t.equal(seen.headers['x-kept'], 'yes', 'other client headers pass through')
})

const forged = {
  'x-forwarded-for': '6.6.6.6',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  'x-forwarded-port': '443',
  forwarded: 'for=6.6.6.6;proto=https;host=evil.example',
  'x-real-ip': '6.6.6.6',
  'x-original-url': '/admin',
  'x-rewrite-url': '/admin',
  'x-client-ip': '6.6.6.6',
  'true-client-ip': '6.6.6.6',
}

/** What a request without claims of its own arrives with: the peer, the scheme, the Host. */
function ownForwardingHeaders(t: Test, seen: Received) {
  t.same(rawValues(seen.rawHeaders, 'x-forwarded-for'), ['127.0.0.1'])
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-host'], 'app.test')
}

t.test('X-Forwarded-* and client claims from an untrusted peer', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, appRoute(u.origin))

  const plain = await request(gh.port, { path: '/x', headers: { host: 'app.test' } })
  t.equal(plain.status, 200)
  ownForwardingHeaders(t, u.received.at(-1)!)

  const reply = await request(gh.port, { path: '/x', headers: { host: 'app.test', ...forged } })
  t.equal(reply.status, 200)
  const echoed = (JSON.parse(reply.text) as Received).headers
  t.equal(echoed['x-forwarded-for'], '127.0.0.1', 'the client got the echo of our X-Forwarded-For')
  const seen = u.received.at(-1)!
  t.same(rawValues(seen.rawHeaders, 'x-forwarded-for'), ['127.0.0.1'], "the client's X-Forwarded-For is replaced by the peer address")
  t.same(rawValues(seen.rawHeaders, 'x-forwarded-proto'), ['http'], 'X-Forwarded-Proto is the scheme actually used')
  t.same(rawValues(seen.rawHeaders, 'x-forwarded-host'), ['app.test'], 'X-Forwarded-Host is the Host actually sent')
  for (const name of ['x-forwarded-port', 'forwarded', 'x-real-ip', 'x-original-url', 'x-rewrite-url', 'x-client-ip', 'true-client-ip']) {
    t.equal(seen.headers[name], undefined, `${name} from an untrusted peer is dropped`)
  }
  t.equal(u.received.length, 2)
})

t.test('X-Forwarded-* from a trusted proxy', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `trusted_proxies: [127.0.0.1]\n${appRoute(u.origin)}`)

  const reply = await request(gh.port, { path: '/x', headers: { host: 'app.test', ...forged, 'x-forwarded-for': '6.6.6.6, 10.0.0.1' } })
  t.equal(reply.status, 200)
  t.equal((JSON.parse(reply.text) as Received).headers['x-forwarded-for'], '6.6.6.6, 10.0.0.1, 127.0.0.1')
  const seen = u.received.at(-1)!
  t.same(rawValues(seen.rawHeaders, 'x-forwarded-for'), ['6.6.6.6, 10.0.0.1, 127.0.0.1'], "the trusted proxy's chain is kept and the peer appended")
  t.equal(seen.headers['x-forwarded-proto'], 'https', "a trusted proxy's X-Forwarded-Proto is kept")
  t.equal(seen.headers['x-forwarded-host'], 'evil.example', "a trusted proxy's X-Forwarded-Host is kept")
  t.equal(seen.headers.forwarded, forged.forwarded)
  t.equal(seen.headers['x-real-ip'], '6.6.6.6')

  // Without claims of its own, a trusted peer gets the same headers as anyone.
  const bare = await request(gh.port, { path: '/y', headers: { host: 'app.test' } })
  t.equal(bare.status, 200)
  ownForwardingHeaders(t, u.received.at(-1)!)
  t.equal(u.received.length, 2)
})

t.test('X-Request-Id: generated, sent upstream, returned; kept only from a trusted proxy', async (t) => {
  const u = await upstream(t)
  const route = appRoute(u.origin)
  const untrusted = await gatehouse(t, route)
  const trusted = await gatehouse(t, `trusted_proxies: [127.0.0.1]\n${route}`)

  const ids = new Set<string>()
  for (let i = 0; i < 3; i++) {
    const reply = await request(untrusted.port, { path: '/id', headers: { host: 'app.test' } })
    t.equal(reply.status, 200)
    const id = reply.headers['x-request-id'] as string
    t.match(id, UUID, 'a fresh id is generated')
    t.same(rawValues(u.received.at(-1)!.rawHeaders, 'x-request-id'), [id], 'the upstream got the same id the client got back')
    ids.add(id)
  }
  t.equal(ids.size, 3, 'every request gets its own id')

  const spoofed = await request(untrusted.port, { path: '/id', headers: { host: 'app.test', 'x-request-id': 'chosen-by-client' } })
  t.not(spoofed.headers['x-request-id'], 'chosen-by-client', 'an untrusted peer cannot choose the id')
  t.match(spoofed.headers['x-request-id'], UUID)
  t.same(rawValues(u.received.at(-1)!.rawHeaders, 'x-request-id'), [spoofed.headers['x-request-id'] as string])

  const kept = await request(trusted.port, { path: '/id', headers: { host: 'app.test', 'x-request-id': 'edge-1234:abc' } })
  t.equal(kept.status, 200)
  t.equal(kept.headers['x-request-id'], 'edge-1234:abc', "a trusted proxy's id is kept")
  t.same(rawValues(u.received.at(-1)!.rawHeaders, 'x-request-id'), ['edge-1234:abc'])

  const wild = await request(trusted.port, { path: '/id', headers: { host: 'app.test', 'x-request-id': 'has spaces and "quotes"' } })
  t.equal(wild.status, 200)
  t.match(wild.headers['x-request-id'], UUID, 'an untame id is replaced even from a trusted proxy')
  t.same(rawValues(u.received.at(-1)!.rawHeaders, 'x-request-id'), [wild.headers['x-request-id'] as string])

  // Error pages carry the id too.
  const missing = await request(trusted.port, { path: '/id', headers: { host: 'nowhere.test', 'x-request-id': 'edge-404' } })
  t.equal(missing.status, 404)
  t.equal(missing.headers['x-request-id'], 'edge-404')
  t.equal((JSON.parse(missing.text) as { request_id: string }).request_id, 'edge-404')
  t.equal(u.received.length, 6)
})

t.test('hop-by-hop request headers never reach the upstream', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, appRoute(u.origin))
  const hop = [
    'Keep-Alive: timeout=99, max=7',
    'TE: trailers',
    'Proxy-Authorization: Basic dXNlcjpwYXNz',
    'Proxy-Connection: keep-alive',
    'Upgrade: h2c',
    'Trailer: X-Checksum',
    'X-Secret: listed-in-connection',
    'X-Other-Secret: also-listed',
    'X-Normal: passes',
  ].join('\r\n')

  // GET without a body: Connection names two extra headers.
  const get = await rawRequest(gh.port, `GET /hop HTTP/1.1\r\nHost: app.test\r\nConnection: close, X-Secret,x-other-secret\r\n${hop}\r\n\r\n`)
  t.equal(get.status, 200)
  t.equal(u.received.length, 1)
  const seen = u.received[0]
  for (const name of ['keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'upgrade', 'trailer', 'x-secret', 'x-other-secret', 'transfer-encoding']) {
    t.equal(seen.headers[name], undefined, `${name} did not reach the upstream`)
  }
  t.not(seen.headers.connection, 'close, X-Secret,x-other-secret', "the client's Connection header is not forwarded")
  t.notMatch(String(seen.headers.connection ?? ''), /secret/i)
  t.equal(seen.headers['x-normal'], 'passes', 'ordinary headers pass')
  t.match(get.body, /"x-normal":"passes"/, 'the client got the echo')
  t.notMatch(get.body, /x-secret|proxy-authorization|dXNlcjpwYXNz/i)

  // A chunked POST: the upload is re-framed by the proxy, the client's framing headers
  // and hop-by-hop headers are not copied.
  const post = await rawRequest(
    gh.port,
    `POST /hop HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close, X-Secret\r\n${hop}\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
  )
  t.equal(post.status, 200)
  t.equal(u.received.length, 2)
  const posted = u.received[1]
  t.equal(posted.body, 'hello world', 'the chunked body arrived intact')
  // undici frames the body itself: chunked while it streams, or a Content-Length when the
  // whole (small) body was already read. Either way exactly one framing header.
  const framing = [
    ...rawValues(posted.rawHeaders, 'transfer-encoding').map((v) => `te:${v}`),
    ...rawValues(posted.rawHeaders, 'content-length').map((v) => `cl:${v}`),
  ]
  t.ok(framing.length === 1 && (framing[0] === 'te:chunked' || framing[0] === 'cl:11'), `one framing header, set by the proxy (${framing.join(' ')})`)
  for (const name of ['keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'upgrade', 'trailer', 'x-secret']) {
    t.equal(posted.headers[name], undefined, `${name} did not reach the upstream (POST)`)
  }
  t.equal(posted.headers['x-other-secret'], 'also-listed', 'a header not named in Connection this time passes')
  t.match(post.body, /hello world/)
})

t.test('hop-by-hop response headers never reach the client', async (t) => {
  const u = await upstream(t, (_req, res) => {
    res.writeHead(200, [
      'Content-Type',
      'text/plain',
      'Connection',
      'keep-alive, X-Upstream-Hop',
      'Keep-Alive',
      'timeout=999, max=77',
      'X-Upstream-Hop',
      'connection-scoped',
      'Proxy-Authenticate',
      'Basic realm="upstream"',
      'Upgrade',
      'h2c',
      'Trailer',
      'X-Checksum',
      'X-End-To-End',
      'kept',
    ])
    res.end('body')
  })
  const gh = await gatehouse(t, appRoute(u.origin))
  const reply = await rawRequest(gh.port, 'GET /resp HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')
  t.equal(reply.status, 200)
  t.equal(u.received.length, 1)
  t.equal(u.received[0].url, '/resp')
  const rawHead = reply.raw.split('\r\n\r\n', 1)[0]
  t.notMatch(rawHead, /x-upstream-hop/i, 'a header the upstream named in Connection is dropped')
  t.notMatch(rawHead, /timeout=999|max=77/, "the upstream's Keep-Alive is dropped")
  t.notMatch(rawHead, /proxy-authenticate/i)
  t.notMatch(rawHead, /^upgrade:/im)
  t.notMatch(rawHead, /^trailer:/im)
  t.notMatch(rawHead, /X-Upstream-Hop/i)
  t.equal(reply.headers.connection, 'close', 'the client sees our own Connection header, answering its own request')
  t.equal(reply.headers['x-end-to-end'], 'kept')
  t.match(reply.headers['x-request-id'], UUID)
  t.match(reply.body, /body/)
})

t.test('the proxy is still up', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, appRoute(u.origin))
  const ping = await request(gh.port, { path: '/ping', headers: { host: 'app.test' } })
  t.equal(ping.status, 200)
  t.equal(ping.text, 'OK')
  t.equal(u.received.length, 0)
})
