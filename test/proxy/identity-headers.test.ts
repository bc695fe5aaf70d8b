// Identity headers and Gatehouse's own cookies never reach an upstream from a client,
// in any spelling, on any route, from trusted proxies included.

import t from 'tap'
import { rawRequest } from '../helpers/raw.js'
import { gatehouse, publicRoute } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'

const FORGED = [
  'X-Gatehouse-Jwt-Assertion',
  'x-gatehouse-jwt-assertion',
  'X_Gatehouse_Jwt_Assertion',
  'x.gatehouse.jwt.assertion',
  'X-Forwarded-User',
  'X_Forwarded_User',
  'x.forwarded.user',
  'X-Forwarded-Email',
  'X-Forwarded-Groups',
  'X-Forwarded-Preferred-Username',
  'X_Forwarded_Preferred_Username',
  'X-Auth-Request-User',
  'X-Auth-Request-Email',
  'x_auth_request_groups',
  'Remote-User',
  'Remote_Groups',
  'Remote-Email',
  'Remote-Name',
  'X-Pomerium-Jwt-Assertion',
  'X-WebAuth-User',
  'X-Remote-User',
]

for (const trusted of [false, true]) {
  t.test(`forged identity headers are removed (${trusted ? 'from a trusted proxy' : 'from a client'})`, async (t) => {
    const u = await upstream(t)
    // Such names are refused outright by default; with them allowed, they must still be stripped.
    const gh = await gatehouse(
      t,
      `allow_unusual_header_names: true\n${trusted ? 'trusted_proxies: [127.0.0.1]\n' : ''}routes:\n${publicRoute('http://app.test', u.origin)}`,
    )
    // Raw bytes: Node's client would refuse some of these names, browsers and curl do not.
    const forged = FORGED.map((name, i) => `${name}: forged-${i}\r\n`).join('')
    const res = await rawRequest(gh.port, `GET /x HTTP/1.1\r\nHost: app.test\r\n${forged}X-Kept: yes\r\nConnection: close\r\n\r\n`)
    t.equal(res.status, 200)
    t.equal(u.received.length, 1)
    const seen = u.received[0].rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    const leaked = seen.filter((n) => FORGED.some((f) => f.toLowerCase() === n))
    t.strictSame(leaked, [], 'no forged identity header reached the upstream')
    t.notOk(
      u.received[0].rawHeaders.some((v) => v.startsWith('forged-')),
      'no forged value reached the upstream',
    )
    t.equal(u.received[0].headers['x-kept'], 'yes', 'other headers pass')
  })
}

t.test("Gatehouse's own cookies are removed, the app's are kept", async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  const cases: [string, string | undefined][] = [
    ['_gatehouse=abc', undefined],
    ['_gatehouse=abc; _gatehouse_1=def; _gatehouse_tx_x1=ghi', undefined],
    ['app=1; _gatehouse=abc; other=2', 'app=1; other=2'],
    ['app=1', 'app=1'],
    ['_gatehousefan=1; app=_gatehouse', '_gatehousefan=1; app=_gatehouse'],
    [' _gatehouse_2=x ;theme=dark', 'theme=dark'],
  ]
  for (const [cookie, expected] of cases) {
    await rawRequest(gh.port, `GET / HTTP/1.1\r\nHost: app.test\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`)
    t.equal(u.received.at(-1)!.headers.cookie, expected, cookie)
  }
})

t.test('a chunked session of about 30 KB of cookies fits in the request headers', async (t) => {
  const u = await upstream(t)
  const gh = await gatehouse(t, `routes:\n${publicRoute('http://app.test', u.origin)}`)
  const chunks = Array.from({ length: 8 }, (_, i) => `_gatehouse${i ? `_${i}` : ''}=${'x'.repeat(3800)}`).join('; ')
  const res = await rawRequest(gh.port, `GET / HTTP/1.1\r\nHost: app.test\r\nCookie: ${chunks}; app=1\r\nConnection: close\r\n\r\n`)
  t.equal(res.status, 200, 'not 431')
  t.equal(u.received[0].headers.cookie, 'app=1', 'and none of it reaches the upstream')
})

t.test('with a custom session.cookie_name, its cookies are the ones removed, and an upstream cannot set them', async (t) => {
  const u = await upstream(t, (_req, res) => {
    res.setHeader('set-cookie', ['mysess=planted; Path=/', 'mysess_1=more; Path=/', 'mysess_tx_abc=x; Path=/', 'app=1; Path=/', 'mysessions=kept; Path=/'])
    res.end('ok')
  })
  const gh = await gatehouse(t, `session:\n  cookie_name: mysess\nroutes:\n${publicRoute('http://app.test', u.origin)}`)
  const res = await rawRequest(
    gh.port,
    `GET / HTTP/1.1\r\nHost: app.test\r\nCookie: mysess=abc; mysess_1=def; mysess_tx_x1=ghi; _gatehouse=other; mysessions=1; app=2\r\nConnection: close\r\n\r\n`,
  )
  t.equal(res.status, 200)
  t.equal(u.received[0].headers.cookie, '_gatehouse=other; mysessions=1; app=2', 'only the configured name and its chunks and sign-in cookies are ours')
  const set = res.raw
    .split('\r\n')
    .filter((line) => /^set-cookie:/i.test(line))
    .map((line) => line.slice(line.indexOf(':') + 1).trim())
  const fromUpstream = set.filter((c) => !/Max-Age=0/.test(c))
  t.strictSame(fromUpstream, ['app=1; Path=/', 'mysessions=kept; Path=/'], "the upstream's Set-Cookie for our cookies is dropped, the app's own pass")
  t.ok(
    set.filter((c) => /Max-Age=0/.test(c)).every((c) => /^mysess(_1)?=;/.test(c)),
    'what remains of ours is only our own clearing of the session cookie that did not open',
  )
})
