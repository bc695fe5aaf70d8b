// Requests whose shape lets two servers read them differently are refused before routing.

import t from 'tap'
import { gatehouse, publicRoute } from '../helpers/gatehouse.js'
import { rawRequest } from '../helpers/raw.js'
import { upstream } from '../helpers/upstream.js'

const cases: [string, string, number, string][] = [
  // name, raw request, status, error code
  ['underscore in a header name', 'GET /x HTTP/1.1\r\nHost: a.test\r\nX_Forwarded_User: admin\r\n', 400, 'GH_ERR_BAD_HEADER'],
  ['dot in a header name', 'GET /x HTTP/1.1\r\nHost: a.test\r\nx.forwarded.user: admin\r\n', 400, 'GH_ERR_BAD_HEADER'],
  ['two Host headers', 'GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n', 400, 'GH_ERR_BAD_HOST'],
  ['Transfer-Encoding gzip, chunked', 'POST /x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n', 400, 'GH_ERR_BAD_HEADER'],
  [
    'Content-Length and Transfer-Encoding',
    'POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n',
    400,
    'GH_ERR_BAD_REQUEST',
  ],
  ['two Content-Lengths', 'POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello', 400, 'GH_ERR_BAD_REQUEST'],
  ['a target over 8 KiB', `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a.test\r\n`, 414, 'GH_ERR_URI_TOO_LONG'],
  ['headers over 64 KiB', `GET /x HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(70_000)}\r\n`, 431, 'GH_ERR_HEADERS_TOO_LARGE'],
  ['an absolute target for another host', 'GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n', 400, 'GH_ERR_BAD_PATH'],
  ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n', 400, 'GH_ERR_BAD_PATH'],
  ['CONNECT', 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n', 400, 'GH_ERR_BAD_REQUEST'],
]

t.test('refused shapes never reach the upstream', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://a.test', u.origin)}`)
  for (const [name, raw, status, code] of cases) {
    const request = raw.includes('\r\n\r\n') ? raw : `${raw}Connection: close\r\n\r\n`
    const res = await rawRequest(gh.port, request, 400)
    t.equal(res.status, status, `${name}: status`)
    t.match(res.body, code, `${name}: ${code}`)
  }
  t.equal(u.received.length, 0, 'the upstream saw none of them')

  // What is accepted: an absolute target naming the Host, and method overrides stripped.
  const ok = await rawRequest(
    gh.port,
    'GET http://a.test/fine?q=1 HTTP/1.1\r\nHost: a.test\r\nX-HTTP-Method-Override: DELETE\r\nX-Method-Override: PUT\r\nX-HTTP-Method: PATCH\r\nConnection: close\r\n\r\n',
  )
  t.equal(ok.status, 200)
  t.equal(u.received[0].url, '/fine?q=1', 'absolute-form becomes origin-form')
  t.equal(u.received[0].method, 'GET')
  t.notOk(
    Object.keys(u.received[0].headers).some((h) => h.includes('method')),
    'no method override reaches the upstream',
  )
})

t.test('allow_unusual_header_names lets such names through (identity spellings still stripped)', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `allow_unusual_header_names: true\nroutes:\n${publicRoute('http://a.test', u.origin)}`)
  const res = await rawRequest(gh.port, 'GET /x HTTP/1.1\r\nHost: a.test\r\nX_Custom: 1\r\nX_Forwarded_User: admin\r\nConnection: close\r\n\r\n')
  t.equal(res.status, 200)
  t.equal(u.received[0].headers['x_custom'], '1')
  t.equal(u.received[0].headers['x_forwarded_user'], undefined)
})

t.test('max_body_size: declared or streamed, a larger body gets 413', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://a.test', u.origin, '    max_body_size: 1KiB\n')}`)
  const declared = await rawRequest(gh.port, `POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n${'a'.repeat(5000)}`)
  t.equal(declared.status, 413)
  t.match(declared.body, /GH_ERR_BODY_TOO_LARGE/)
  t.equal(u.received.length, 0, 'refused before the upstream was asked')
  const chunk = 'a'.repeat(800)
  const streamed = await rawRequest(
    gh.port,
    `POST /x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(800).toString(16)}\r\n${chunk}\r\n${(800).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
  )
  t.equal(streamed.status, 413, 'a chunked body is counted as it streams')
  const small = await rawRequest(gh.port, `POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 500\r\nConnection: close\r\n\r\n${'a'.repeat(500)}`)
  t.equal(small.status, 200)
  t.equal(u.received.at(-1)!.body.length, 500)
})

t.test('limits: slow headers are cut off; settings are read', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(
    t,
    `limits:\n  headers_timeout: 500ms\n  max_connections: 50\n  request_timeout: 10s\n  max_header_bytes: 32KiB\nroutes:\n${publicRoute('http://a.test', u.origin)}`,
  )
  t.equal(gh.app.server.headersTimeout, 500)
  t.equal(gh.app.server.maxConnections, 50)
  t.equal(gh.app.server.requestTimeout, 10_000)
  const net = await import('node:net')
  const closed = await new Promise<{ ms: number; data: string }>((resolve) => {
    const started = Date.now()
    let data = ''
    const socket = net.connect(gh.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: a.test\r\n'))
    socket.on('data', (c) => (data += c))
    socket.on('close', () => resolve({ ms: Date.now() - started, data }))
    socket.on('error', () => {})
  })
  t.ok(closed.ms < 5000, `a client that never finishes its headers is cut off (${closed.ms} ms)`)
  t.equal(u.received.length, 0)
  const big = await rawRequest(gh.port, `GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(40_000)}\r\nConnection: close\r\n\r\n`)
  t.equal(big.status, 431, 'max_header_bytes applies')
})
