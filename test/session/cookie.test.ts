import t from 'tap'
import { SessionCookie, type SessionCookieOptions } from '../../src/session/cookie.js'

const SECRET = Buffer.alloc(32, 7).toString('base64')
const NOW = 1_767_600_000
const LIFETIME = 14 * 3600

const session = (options: Partial<SessionCookieOptions> = {}): SessionCookie =>
  new SessionCookie({ name: '_gatehouse', secrets: [SECRET], lifetimeSeconds: LIFETIME, ...options })

/** What a browser would send after applying the Set-Cookie values to `before`. */
function apply(setCookies: string[], before: Record<string, string> = {}): Record<string, string> {
  const jar = { ...before }
  for (const line of setCookies) {
    const pair = line.slice(0, line.indexOf(';'))
    const eq = pair.indexOf('=')
    if (/; Max-Age=0;/.test(line)) delete jar[pair.slice(0, eq)]
    else jar[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return jar
}

const maxAges = (setCookies: string[]): number[] => setCookies.map((line) => Number(/Max-Age=(\d+)/.exec(line)?.[1]))
const groups = (n: number): string[] => Array.from({ length: n }, (_, i) => `engineering-team-${String(i).padStart(4, '0')}`)

t.test('a session written is read back', async (t) => {
  const s = session()
  const payload = { sub: 'auth0|1', email: 'ann@example.com', groups: ['premium'] }
  const out = s.write(payload, {}, { now: NOW })
  t.equal(out.length, 1)
  t.same(maxAges(out), [LIFETIME])
  t.same(s.read(apply(out), NOW), { payload, reason: undefined, iat: NOW, exp: NOW + LIFETIME })
})

t.test('a session from an IdP with many groups spans chunks, and shrinks cleanly', async (t) => {
  const s = session()
  const big = { sub: 'u', groups: groups(600) }
  const first = s.write(big, {}, { now: NOW })
  t.ok(first.length > 3 && first.length <= 8, `${first.length} chunks`)
  const jar = apply(first)
  t.same(s.read(jar, NOW).payload, big)

  const smaller = s.write({ sub: 'u', groups: ['one'] }, jar, { now: NOW + 60 })
  t.equal(smaller.filter((line) => line.includes('Max-Age=0;')).length, first.length - 1, 'every old chunk but the first is expired')
  const after = apply(smaller, jar)
  t.same(Object.keys(after), ['_gatehouse'])
  t.same(s.read(after, NOW + 60).payload, { sub: 'u', groups: ['one'] })

  t.throws(() => s.write({ sub: 'u', groups: groups(2000) }, {}, { now: NOW }), { code: 'GH_ERR_SESSION_TOO_LARGE' })
})

t.test('a missing middle chunk is refused', async (t) => {
  const s = session()
  const jar = apply(s.write({ groups: groups(300) }, {}, { now: NOW }))
  t.ok('_gatehouse_2' in jar, 'precondition: at least three chunks')
  delete jar._gatehouse_1
  t.same(s.read(jar, NOW), { payload: undefined, reason: 'malformed' })
})

t.test('chunks swapped between two sessions are refused', async (t) => {
  const s = session()
  const one = apply(s.write({ user: 'ann', groups: groups(300) }, {}, { now: NOW }))
  const two = apply(s.write({ user: 'bob', groups: groups(300) }, {}, { now: NOW }))
  t.same(s.read({ ...one, _gatehouse_1: two._gatehouse_1 }, NOW), { payload: undefined, reason: 'tampered' })
})

t.test('a value cannot be moved to another cookie', async (t) => {
  const s = session()
  const transaction = session({ name: '_gatehouse_tx', lifetimeSeconds: 600 })
  const tx = apply(transaction.write({ state: 's', verifier: 'v' }, {}, { now: NOW }))
  t.same(s.read({ _gatehouse: tx._gatehouse_tx }, NOW), { payload: undefined, reason: 'tampered' })
  t.same(transaction.read(tx, NOW).payload, { state: 's', verifier: 'v' })
})

t.test('Max-Age follows the absolute end', async (t) => {
  const s = session()
  const cases: [string, object, string[]][] = [
    ['fresh session', { now: NOW }, [`Max-Age=${LIFETIME}`]],
    ['re-sealed with its original end', { now: NOW, expiresAt: NOW + 100 }, ['Max-Age=100']],
    ['end already passed: cleared', { now: NOW, expiresAt: NOW }, ['_gatehouse=; Max-Age=0']],
  ]
  for (const [label, options, expected] of cases) {
    const out = s.write({ sub: 'u' }, {}, options)
    t.same(
      out.map((line) => /^_gatehouse=; Max-Age=0|Max-Age=\d+/.exec(line)?.[0]),
      expected,
      label,
    )
  }
  const resealed = apply(s.write({ sub: 'u' }, {}, { now: NOW + 50, expiresAt: NOW + 100 }))
  const read = s.read(resealed, NOW + 50)
  t.same(read.reason === undefined && [read.iat, read.exp], [NOW + 50, NOW + 100])
  t.same(s.read(resealed, NOW + 100), { payload: undefined, reason: 'expired' })
})

t.test('sign-out and absence', async (t) => {
  const s = session({ domain: 'example.com' })
  const jar = apply(s.write({ groups: groups(300) }, {}, { now: NOW }))
  const out = s.write(undefined, jar)
  t.ok(out.every((line) => line.includes('=; Max-Age=0; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Lax')))
  t.same(apply(out, jar), {})
  t.same(s.write(undefined, new Set(Object.keys(jar))), out, 'names as an iterable')
  t.same(s.read({}, NOW), { payload: undefined, reason: 'absent' })
  t.same(s.read({ _gatehouse: 'garbage' }, NOW), { payload: undefined, reason: 'malformed' })
})
