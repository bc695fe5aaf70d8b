// Websocket upgrade attacks, as raw handshakes: sign-in, allow_websockets, other
// protocols, cross-site handshakes riding a session cookie, and no tunnel the upstream
// did not agree to.

import net, { type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { rawRequest } from '../helpers/raw.js'
import { upstream, type EchoUpstream } from '../helpers/upstream.js'
import { idpYaml, newSecret, provider, session, signedInGatehouse } from './signin.js'
import type { RunningGatehouse } from '../helpers/gatehouse.js'

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

function handshake(host: string, path: string, extra: string[] = [], method = 'GET', upgrade = 'websocket'): string {
  return [
    `${method} ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    `Upgrade: ${upgrade}`,
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${KEY}`,
    ...extra,
    '',
    '',
  ].join('\r\n')
}

/** A plain TCP upstream that answers every request 200 (never 101) and keeps every byte it got. */
async function rawUpstream(t: Test): Promise<{ port: number; bytes: () => string }> {
  let seen = ''
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('data', (d) => {
      seen += d.toString('latin1')
      if (/\r\n\r\n/.test(d.toString('latin1'))) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok')
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return { port: (server.address() as AddressInfo).port, bytes: () => seen }
}

interface Setup {
  gh: RunningGatehouse
  ws: EchoUpstream
  plain: EchoUpstream
  nows: EchoUpstream
  raw: { port: number; bytes: () => string }
  jar: string
}

async function setup(t: Test): Promise<Setup> {
  const p = await provider(t, ['ws.test'])
  const ws = await upstream(t, { websockets: true })
  const plain = await upstream(t, { websockets: true })
  const nows = await upstream(t, { websockets: false })
  const raw = await rawUpstream(t)
  const gh = await signedInGatehouse(
    t,
    `${idpYaml(p, newSecret())}routes:
  - from: http://ws.test
    to: ${ws.origin}
    allow_websockets: true
    allow_any_authenticated_user: true
  - from: http://pub.test
    to: ${ws.origin}
    allow_websockets: true
    allow_public_unauthenticated_access: true
    policy:
      deny:
        or:
          - http_path: { starts_with: /admin }
  - from: http://plain.test
    to: ${plain.origin}
    allow_public_unauthenticated_access: true
  - from: http://nows.test
    to: ${nows.origin}
    allow_websockets: true
    allow_public_unauthenticated_access: true
  - from: http://raw.test
    to: http://127.0.0.1:${raw.port}
    allow_websockets: true
    allow_public_unauthenticated_access: true
`,
    'ws.test',
  )
  const jar = (await session(gh, p, 'ws.test')).header()
  return { gh, ws, plain, nows, raw, jar }
}

t.test('websocket upgrade attacks', async (t) => {
  const s = await setup(t)
  const cookie = `Cookie: ${s.jar}`
  /** [label, handshake, status, upstream path for 101]. */
  const cases: [string, string, number, string?][] = [
    ['no session on a route needing sign-in', handshake('ws.test', '/socket'), 401],
    ['a tampered session', handshake('ws.test', '/socket', [`Cookie: _gatehouse=${'A'.repeat(200)}`]), 401],
    ['a session, same origin', handshake('ws.test', '/socket', [cookie, 'Origin: http://ws.test']), 101, '/socket'],
    ['a session, no Origin (not a browser)', handshake('ws.test', '/socket', [cookie]), 101, '/socket'],
    ['a session, same origin in upper case', handshake('ws.test', '/socket', [cookie, 'Origin: http://WS.TEST']), 101, '/socket'],
    ['a session, cross-site Origin', handshake('ws.test', '/socket', [cookie, 'Origin: http://evil.test']), 403],
    ['a session, look-alike Origin', handshake('ws.test', '/socket', [cookie, 'Origin: http://ws.test.evil.com']), 403],
    ['a session, Origin on another port', handshake('ws.test', '/socket', [cookie, 'Origin: http://ws.test:8080']), 403],
    ['a session, Origin with userinfo', handshake('ws.test', '/socket', [cookie, 'Origin: http://ws.test@evil.test']), 403],
    ['a session, Origin null', handshake('ws.test', '/socket', [cookie, 'Origin: null']), 403],
    ['a session, Origin garbage', handshake('ws.test', '/socket', [cookie, 'Origin: ///']), 403],
    [
      'a session, Sec-WebSocket-Origin cross-site (old drafts)',
      handshake('ws.test', '/socket', [cookie, 'Origin: http://evil.test', 'Sec-WebSocket-Origin: http://ws.test']),
      403,
    ],
    ['no session, cross-site Origin on a public route', handshake('pub.test', '/public/x', ['Origin: http://evil.test']), 101, '/public/x'],
    ['a route without allow_websockets', handshake('plain.test', '/socket'), 403],
    ['Upgrade: h2c', handshake('pub.test', '/public/x', ['HTTP2-Settings: AAMAAABkAAQAAP__'], 'GET', 'h2c'), 400],
    ['Upgrade: websocket, h2c', handshake('pub.test', '/public/x', [], 'GET', 'websocket, h2c'), 400],
    ['Upgrade: h2c, websocket', handshake('pub.test', '/public/x', [], 'GET', 'h2c, websocket'), 400],
    ['Upgrade: TLS/1.2', handshake('pub.test', '/public/x', [], 'GET', 'TLS/1.2'), 400],
    ['Upgrade: h2c on a route needing sign-in', handshake('ws.test', '/x', [], 'GET', 'h2c'), 400],
    ['a POST upgrade', handshake('pub.test', '/public/x', ['Content-Length: 0'], 'POST'), 400],
    ['the deny rule applies', handshake('pub.test', '/admin'), 403],
    ['an encoded bypass of the deny rule', handshake('pub.test', '/public/%2e%2e/admin'), 403],
    ['a path parameter', handshake('pub.test', '/admin;x=1'), 400],
    ['a backslash', handshake('pub.test', '/public\\..\\admin'), 400],
    ['above the root', handshake('pub.test', '/../admin'), 400],
    ['a dot segment, normalised', handshake('pub.test', '/public/./a/../x'), 101, '/public/x'],
    ['two Host headers', handshake('pub.test', '/public/x', ['Host: ws.test']), 400],
    ['a header name with _', handshake('pub.test', '/public/x', ['X_Forwarded_User: admin']), 400],
    ['an unknown host', handshake('nowhere.test', '/public/x'), 404],
  ]
  for (const [label, bytes, status, path] of cases) {
    const before = s.ws.upgrades.length + s.plain.upgrades.length + s.plain.received.length + s.ws.received.length
    const res = await rawRequest(s.gh.port, bytes, 300)
    t.equal(res.status, status, `${label}: ${status}`)
    const added = s.ws.upgrades.length + s.plain.upgrades.length + s.plain.received.length + s.ws.received.length - before
    if (path === undefined) t.equal(added, 0, `${label}: no upstream request`)
    else {
      t.equal(added, 1, `${label}: one upstream handshake`)
      const seen = s.ws.upgrades.at(-1)!
      t.equal(seen.url, path, `${label}: the upstream saw exactly ${path}`)
      t.equal(seen.headers['x-forwarded-user'], undefined, `${label}: no identity header (pass_identity_headers is off)`)
      t.notMatch(String(seen.headers.cookie ?? ''), /_gatehouse/, `${label}: no session cookie upstream`)
    }
  }
})

t.test('no raw tunnel when the upstream does not answer 101', async (t) => {
  const s = await setup(t)
  const smuggled = 'GET /admin HTTP/1.1\r\nHost: nows.test\r\n\r\n'

  // An upstream that refuses the upgrade (400): its answer is relayed, then the
  // connection ends; the bytes the client sent after the handshake go nowhere.
  const refused = await rawRequest(s.gh.port, handshake('nows.test', '/socket') + smuggled, 500)
  t.equal(refused.status, 400, 'the refusal is relayed')
  t.match(refused.headers.connection ?? '', /close/i, 'and the connection closes')
  t.equal(s.nows.upgrades.length, 1, 'one handshake upstream')
  t.same(
    s.nows.received.map((r) => r.url),
    [],
    'nothing else upstream',
  )

  // An upstream that answers 200 and keeps the connection: still no tunnel.
  const ok = await rawRequest(s.gh.port, handshake('raw.test', '/socket') + smuggled.replace('nows.test', 'raw.test'), 500)
  t.equal(ok.status, 200, 'the plain answer is relayed')
  t.notMatch(ok.raw, /HTTP\/1\.1 200[\s\S]*HTTP\/1\.1/, 'one answer only')
  const bytes = s.raw.bytes()
  t.equal((bytes.match(/ HTTP\/1\.1\r\n/g) ?? []).length, 1, 'the upstream got one request line')
  t.notMatch(bytes, /\/admin/, 'the smuggled request never reached the upstream')
})
