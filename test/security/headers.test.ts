// Request header attacks: identity headers, client claims, Connection-listed headers,
// method overrides and odd header names. The upstream is checked header by header.

import t, { type Test } from 'tap'
import { assertForwarded, assertRefused, attackProxy, exchange, HOST, rawHttp, type Proxy } from './common.js'

/** [header line sent, header names the upstream must not have, expected upstream values]. */
type Stripped = readonly [line: string, absent: string[], expect?: Record<string, string>]

const IDENTITY: readonly Stripped[] = [
  ['X-Forwarded-User: admin', ['x-forwarded-user']],
  ['X-FORWARDED-USER: admin', ['x-forwarded-user']],
  ['x-forwarded-email: root@example.com', ['x-forwarded-email']],
  ['X-Forwarded-Groups: admins', ['x-forwarded-groups']],
  ['X-Forwarded-Preferred-Username: admin', ['x-forwarded-preferred-username']],
  ['X-Gatehouse-Jwt-Assertion: eyJhbGciOiJub25lIn0.e30.', ['x-gatehouse-jwt-assertion']],
  ['X-Pomerium-Jwt-Assertion: eyJ.e30.', ['x-pomerium-jwt-assertion']],
  ['Remote-User: admin', ['remote-user']],
  ['X-Remote-User: admin', ['x-remote-user']],
  ['X-WebAuth-User: admin', ['x-webauth-user']],
  ['X-Auth-Request-User: admin', ['x-auth-request-user']],
  ['X-Auth-Request-Anything: admin', ['x-auth-request-anything']],
]

const CLIENT_CLAIMS: readonly Stripped[] = [
  ['X-Forwarded-For: 10.0.0.1', [], { 'x-forwarded-for': '127.0.0.1' }],
  ['X-Forwarded-Host: admin.internal', [], { 'x-forwarded-host': HOST }],
  ['X-Forwarded-Proto: https', [], { 'x-forwarded-proto': 'http' }],
  ['X-Forwarded-Port: 443', ['x-forwarded-port']],
  ['X-Forwarded-Prefix: /admin', ['x-forwarded-prefix']],
  ['X-Forwarded-Uri: /admin', ['x-forwarded-uri']],
  ['X-Forwarded-Server: evil', ['x-forwarded-server']],
  ['Forwarded: for=10.0.0.1;host=admin.internal;proto=https', ['forwarded']],
  ['X-Original-URL: /admin', ['x-original-url']],
  ['X-Original-URI: /admin', ['x-original-uri']],
  ['X-Rewrite-URL: /admin', ['x-rewrite-url']],
  ['X-Original-Host: admin.internal', ['x-original-host']],
  ['X-Original-Method: DELETE', ['x-original-method']],
  ['X-Real-IP: 10.0.0.1', ['x-real-ip']],
  ['X-Client-IP: 10.0.0.1', ['x-client-ip']],
  ['True-Client-IP: 10.0.0.1', ['true-client-ip']],
]

const METHOD_OVERRIDES: readonly Stripped[] = [
  ['X-HTTP-Method-Override: DELETE', ['x-http-method-override']],
  ['X-HTTP-Method: DELETE', ['x-http-method']],
  ['X-Method-Override: DELETE', ['x-method-override']],
  ['x-http-method-override: PUT', ['x-http-method-override']],
]

const CONNECTION: readonly Stripped[] = [
  ['Connection: close, X-Secret\r\nX-Secret: 1', ['x-secret']],
  ['Connection: X-Api-Key\r\nX-Api-Key: k', ['x-api-key']],
  ['Connection: keep-alive, x-a, x-b\r\nX-A: 1\r\nX-B: 2', ['x-a', 'x-b']],
  ['Connection: close\r\nConnection: X-Secret\r\nX-Secret: 1', ['x-secret']],
  // Listing Gatehouse's own headers in Connection must not remove what Gatehouse adds.
  [
    'Connection: X-Forwarded-For, X-Request-Id, X-Forwarded-Proto, X-Forwarded-Host',
    [],
    { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': HOST },
  ],
  // Hop-by-hop headers themselves.
  ['Keep-Alive: timeout=5', ['keep-alive']],
  ['Proxy-Authorization: Basic YWRtaW46YWRtaW4=', ['proxy-authorization']],
  ['Proxy-Connection: keep-alive', ['proxy-connection']],
  ['TE: trailers', ['te']],
  ['Trailer: X-Forwarded-User', ['trailer']],
  ['Upgrade: h2c', ['upgrade']],
  ['HTTP2-Settings: AAMAAABkAAQAAP__', ['http2-settings']],
]

/** Header names with `_` or `.`: refused outright by default. */
const ODD_NAMES: readonly string[] = [
  'X_Forwarded_User: admin',
  'x_forwarded_user: admin',
  'X.Forwarded.User: admin',
  'X-Forwarded_User: admin',
  'X_Gatehouse_Jwt_Assertion: eyJ.e30.',
  'Remote_User: admin',
  'X_Forwarded_For: 10.0.0.1',
  'X_Original_URL: /admin',
  'X_HTTP_Method_Override: DELETE',
  'X_Custom: 1',
  'x.custom: 1',
  'Accept_Language: en',
  'Content_Length: 0',
  'Transfer_Encoding: chunked',
  'Host_: evil.test',
]

/** Header lines Node's parser must refuse before anything else sees them. */
const MALFORMED: readonly [string, string][] = [
  ['space before the colon', 'X-Forwarded-User : admin'],
  ['space before the colon on Host', 'Host : evil.test'],
  ['obs-fold', 'X-A: 1\r\n X-Forwarded-User: admin'],
  ['NUL in a value', 'X-A: a\0b'],
  ['bare CR in a value', 'X-A: a\rX-Forwarded-User: admin'],
  ['no colon', 'X-Forwarded-User admin'],
  ['empty name', ': admin'],
  ['name with a space', 'X Forwarded User: admin'],
  ['name with a slash', 'X/Forwarded: admin'],
  ['name with a non-ASCII byte', 'X-\xe9: 1'],
]

async function check(t: Test, p: Proxy, group: string, cases: readonly Stripped[]): Promise<void> {
  {
    for (const [line, absent, expect] of cases) {
      const label = `${group}: ${line.replace(/\r\n/g, ' | ')}`
      const got = await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, line]))
      const seen = assertForwarded(t, label, got, '/public/x')
      if (!seen) continue
      for (const name of absent) t.equal(seen.headers[name], undefined, `${label}: no ${name} upstream`)
      for (const [name, value] of Object.entries(expect ?? {})) t.equal(seen.headers[name], value, `${label}: ${name} is ${value}`)
      t.equal(seen.headers['x-forwarded-user'], undefined, `${label}: no identity upstream`)
      t.equal(seen.headers['x-gatehouse-jwt-assertion'], undefined, `${label}: no assertion upstream`)
      t.ok(seen.headers['x-request-id'], `${label}: a request id upstream`)
    }
  }
}

t.test('identity headers never reach the upstream, in any spelling', async (t) => {
  const p = await attackProxy(t)
  await check(t, p, 'identity', IDENTITY)
})

t.test('client claims from an untrusted peer are dropped or replaced', async (t) => {
  const p = await attackProxy(t)
  await check(t, p, 'claim', CLIENT_CLAIMS)
  // And none of them changes the route or the policy's view of the path.
  for (const line of ['X-Original-URL: /admin', 'X-Rewrite-URL: /admin', 'X-Forwarded-Prefix: /admin', 'Forwarded: host=admin']) {
    const got = await exchange(p, rawHttp('/admin', [`Host: ${HOST}`, line]))
    assertRefused(t, `claim on /admin: ${line}`, got, 403)
  }
})

t.test('method override headers are removed', async (t) => {
  const p = await attackProxy(t)
  await check(t, p, 'override', METHOD_OVERRIDES)
  const got = await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, 'X-HTTP-Method-Override: DELETE', 'X-HTTP-Method: DELETE', 'X-Method-Override: DELETE']))
  const seen = assertForwarded(t, 'all three overrides', got, '/public/x')
  t.equal(seen?.method, 'GET', 'the upstream saw the real method')
  t.same(
    Object.keys(seen?.headers ?? {}).filter((n) => /method/.test(n)),
    [],
    'no override header of any kind',
  )
})

t.test('headers named in Connection, and hop-by-hop headers, are removed', async (t) => {
  const p = await attackProxy(t)
  await check(t, p, 'hop-by-hop', CONNECTION)
})

t.test('header names with _ or . are refused by default', async (t) => {
  const p = await attackProxy(t)
  for (const line of ODD_NAMES) {
    assertRefused(t, line, await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, line])), 400)
  }
})

t.test('with allow_unusual_header_names, identity spellings with _ or . are still stripped', async (t) => {
  const p = await attackProxy(t, 'allow_unusual_header_names: true\n')
  const lines = [
    'X_Forwarded_User: admin',
    'x.forwarded.email: root@example.com',
    'X-Forwarded_Groups: admins',
    'X_Gatehouse_Jwt_Assertion: eyJ.e30.',
    'Remote_User: admin',
    'X_Auth_Request_User: admin',
  ]
  for (const line of lines) {
    const got = await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, line]))
    const seen = assertForwarded(t, line, got, '/public/x')
    const name = line.slice(0, line.indexOf(':')).toLowerCase()
    t.equal(seen?.headers[name], undefined, `${line}: not upstream`)
    t.same(
      Object.keys(seen?.headers ?? {}).filter((n) => /user|email|groups|assertion/.test(n)),
      [],
      `${line}: nothing identity-like upstream`,
    )
  }
  const custom = await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, 'X_Custom: 1']))
  t.equal(assertForwarded(t, 'X_Custom allowed', custom, '/public/x')?.headers.x_custom, '1', 'an ordinary odd name passes when allowed')
})

t.test('malformed header lines are refused by the parser', async (t) => {
  const p = await attackProxy(t)
  for (const [label, line] of MALFORMED) {
    assertRefused(t, label, await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, line])), 400)
  }
})

t.test('a trusted proxy may speak for the client, but never for the user', async (t) => {
  const p = await attackProxy(t, 'trusted_proxies: [loopback]\n')
  const got = await exchange(
    p,
    rawHttp('/public/x', [
      `Host: ${HOST}`,
      'X-Forwarded-For: 10.0.0.1',
      'X-Forwarded-Proto: https',
      'X-Forwarded-User: admin',
      'X-Gatehouse-Jwt-Assertion: eyJ.e30.',
      'Remote-User: admin',
      'X-Auth-Request-Email: root@example.com',
      'X-HTTP-Method-Override: DELETE',
    ]),
  )
  const seen = assertForwarded(t, 'trusted peer', got, '/public/x')
  t.equal(seen?.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1', 'its X-Forwarded-For is extended')
  t.equal(seen?.headers['x-forwarded-proto'], 'https', 'its X-Forwarded-Proto is kept')
  for (const name of ['x-forwarded-user', 'x-gatehouse-jwt-assertion', 'remote-user', 'x-auth-request-email', 'x-http-method-override']) {
    t.equal(seen?.headers[name], undefined, `trusted peer: no ${name} upstream`)
  }
  // X-Original-URL from a trusted proxy is passed along, but never routes or judges.
  assertRefused(t, 'trusted peer, X-Original-URL on /admin', await exchange(p, rawHttp('/admin', [`Host: ${HOST}`, 'X-Original-URL: /public/x'])), 403)
  const original = await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, 'X-Original-URL: /admin']))
  assertForwarded(t, 'trusted peer, X-Original-URL: /admin on /public/x', original, '/public/x')
})
