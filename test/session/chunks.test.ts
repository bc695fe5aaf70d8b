import t from 'tap'
import { ChunkedCookie, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_CHUNKS, type CookieOptions } from '../../src/session/chunks.js'
import { isHttpLoopback } from '../../src/http/loopback.js'

const NAME = '_gatehouse'
const cookie = (options: Partial<CookieOptions> = {}): ChunkedCookie => new ChunkedCookie({ name: NAME, lifetimeSeconds: 3600, ...options })

/** What a browser would send after applying the Set-Cookie values to `before`. */
function apply(setCookies: string[], before: Record<string, string> = {}): Record<string, string> {
  const jar = { ...before }
  for (const line of setCookies) {
    const [pair] = line.split('; ')
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq)
    if (/; Max-Age=0(;|$)/.test(line)) delete jar[name]
    else jar[name] = pair.slice(eq + 1)
  }
  return jar
}

const names = (setCookies: string[]): string[] => setCookies.map((line) => line.slice(0, line.indexOf('=')))

t.test('attributes', async (t) => {
  const cases: [string, Partial<CookieOptions>, string][] = [
    ['defaults', {}, '_gatehouse=v; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax'],
    ['strict', { sameSite: 'strict' }, '_gatehouse=v; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Strict'],
    ['none', { sameSite: 'none' }, '_gatehouse=v; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=None'],
    ['domain', { domain: '.example.com' }, '_gatehouse=v; Max-Age=3600; Path=/; Domain=.example.com; HttpOnly; Secure; SameSite=Lax'],
    ['http on loopback', { httpLoopback: true }, '_gatehouse=v; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax'],
    ['lifetime', { lifetimeSeconds: 50400 }, '_gatehouse=v; Max-Age=50400; Path=/; HttpOnly; Secure; SameSite=Lax'],
    ['__Host- name', { name: '__Host-gh' }, '__Host-gh=v; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax'],
  ]
  for (const [label, options, expected] of cases) t.same(cookie(options).write('v', []), [expected], label)
  t.same(cookie().write('v', [], 120), ['_gatehouse=v; Max-Age=120; Path=/; HttpOnly; Secure; SameSite=Lax'], 'Max-Age per write')
  t.same(
    cookie({ domain: 'example.com', sameSite: 'strict' }).write(undefined, []),
    ['_gatehouse=; Max-Age=0; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Strict'],
    'a clear carries the same Path, Domain and flags, so it hits the same cookie',
  )
})

t.test('chunk boundaries', async (t) => {
  const c = cookie()
  const cases: [string, number, string[]][] = [
    ['one byte', 1, [NAME]],
    ['exactly the chunk size', DEFAULT_CHUNK_SIZE, [NAME]],
    ['one byte over', DEFAULT_CHUNK_SIZE + 1, [NAME, `${NAME}_1`]],
    ['two chunks exactly', 2 * DEFAULT_CHUNK_SIZE, [NAME, `${NAME}_1`]],
    ['the maximum', DEFAULT_MAX_CHUNKS * DEFAULT_CHUNK_SIZE, [NAME, ...Array.from({ length: DEFAULT_MAX_CHUNKS - 1 }, (_, i) => `${NAME}_${i + 1}`)]],
  ]
  for (const [label, length, expected] of cases) {
    const value = 'abcdefghij'.repeat(Math.ceil(length / 10)).slice(0, length)
    const out = c.write(value, [])
    t.same(names(out), expected, label)
    const lengths = out.map((line) => line.slice(line.indexOf('=') + 1, line.indexOf(';')).length)
    t.ok(
      lengths.every((n) => n <= DEFAULT_CHUNK_SIZE),
      `${label}: no chunk over the size`,
    )
    t.same(c.read(apply(out)), { value, reason: undefined }, `${label}: reads back`)
  }
  t.throws(() => c.write('x'.repeat(DEFAULT_MAX_CHUNKS * DEFAULT_CHUNK_SIZE + 1), []), { code: 'GH_ERR_SESSION_TOO_LARGE' }, 'one over the maximum')
  t.equal(c.maxValueLength, 30400)
  const small = cookie({ chunkSize: 4, maxChunks: 3 })
  t.same(
    small.write('abcdefghij', []).map((line) => line.split(';')[0]),
    ['_gatehouse=abcd', '_gatehouse_1=efgh', '_gatehouse_2=ij'],
  )
  t.throws(() => small.write('abcdefghijklm', []), { code: 'GH_ERR_SESSION_TOO_LARGE' })
})

t.test('reassembly', async (t) => {
  const c = cookie({ chunkSize: 4, maxChunks: 3 })
  const cases: [string, Record<string, string | undefined>, object][] = [
    ['nothing sent', {}, { value: undefined, reason: 'absent' }],
    ['other cookies only', { other: 'x', _gatehouse_tx: 'y', _gatehousex: 'z' }, { value: undefined, reason: 'absent' }],
    ['empty first cookie', { _gatehouse: '' }, { value: undefined, reason: 'absent' }],
    ['one chunk', { _gatehouse: 'abcd' }, { value: 'abcd', reason: undefined }],
    ['in any order', { _gatehouse_2: 'ij', _gatehouse: 'abcd', _gatehouse_1: 'efgh' }, { value: 'abcdefghij', reason: undefined }],
    ['missing middle chunk', { _gatehouse: 'abcd', _gatehouse_2: 'ij' }, { value: undefined, reason: 'malformed' }],
    ['empty middle chunk', { _gatehouse: 'abcd', _gatehouse_1: '', _gatehouse_2: 'ij' }, { value: undefined, reason: 'malformed' }],
    ['chunks without the first', { _gatehouse_1: 'efgh' }, { value: undefined, reason: 'malformed' }],
    [
      'chunk past the bound ignored',
      { _gatehouse: 'abcd', _gatehouse_1: 'efgh', _gatehouse_2: 'ij', _gatehouse_3: 'zz' },
      { value: 'abcdefghij', reason: undefined },
    ],
    ['only a chunk past the bound', { _gatehouse_3: 'zz' }, { value: undefined, reason: 'absent' }],
    ['non-canonical index ignored', { _gatehouse: 'abcd', _gatehouse_01: 'zz' }, { value: 'abcd', reason: undefined }],
    ['longer than the bound', { _gatehouse: 'abcdefghijkl', _gatehouse_1: 'm' }, { value: undefined, reason: 'too-large' }],
    ['exactly the bound', { _gatehouse: 'abcdefghijkl' }, { value: 'abcdefghijkl', reason: undefined }],
  ]
  for (const [label, cookies, expected] of cases) t.same(c.read(cookies), expected, label)

  const named = new ChunkedCookie({ name: 'constructor', lifetimeSeconds: 60 })
  t.same(named.read({}), { value: undefined, reason: 'absent' }, 'inherited properties are not cookies')
  t.same(named.read(JSON.parse('{"__proto__":"x"}')), { value: undefined, reason: 'absent' })
})

t.test('stale chunks are expired', async (t) => {
  const c = cookie({ chunkSize: 4, maxChunks: 3 })
  const clear = (name: string): string => `${name}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`
  const set = (name: string, value: string): string => `${name}=${value}; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax`
  const cases: [string, string | undefined, string[], string[]][] = [
    ['shrinks from three to one', 'ab', ['_gatehouse', '_gatehouse_1', '_gatehouse_2'], [set(NAME, 'ab'), clear('_gatehouse_1'), clear('_gatehouse_2')]],
    [
      'shrinks from three to two',
      'abcdef',
      ['_gatehouse', '_gatehouse_1', '_gatehouse_2'],
      [set(NAME, 'abcd'), set('_gatehouse_1', 'ef'), clear('_gatehouse_2')],
    ],
    ['grows: nothing to clear', 'abcdefghij', ['_gatehouse'], [set(NAME, 'abcd'), set('_gatehouse_1', 'efgh'), set('_gatehouse_2', 'ij')]],
    ['leftover past the bound', 'ab', ['_gatehouse', '_gatehouse_7', '_gatehouse_12'], [set(NAME, 'ab'), clear('_gatehouse_7'), clear('_gatehouse_12')]],
    ['sign-out clears what was sent', undefined, ['_gatehouse_1', 'other', '_gatehouse'], [clear(NAME), clear('_gatehouse_1')]],
    ['sign-out clears the first cookie even unsent', undefined, [], [clear(NAME)]],
    ['lookalikes are left alone', 'ab', ['_gatehouse_tx', '_gatehouse_01', '_gatehouse_1000', '_gatehousex_1', '_gatehouse_'], [set(NAME, 'ab')]],
    ['duplicates cleared once', 'ab', ['_gatehouse_2', '_gatehouse_2'], [set(NAME, 'ab'), clear('_gatehouse_2')]],
  ]
  for (const [label, value, sent, expected] of cases) t.same(c.write(value, new Set(sent)), expected, label)

  const before = apply(c.write('abcdefghij', []))
  const after = apply(c.write('ab', Object.keys(before)), before)
  t.same(after, { _gatehouse: 'ab' }, 'the browser is left with the new value only')
  t.same(c.read(after), { value: 'ab', reason: undefined })
})

t.test('write refuses values that are not cookie values', async (t) => {
  const c = cookie()
  const cases: [string, unknown, number?][] = [
    ['semicolon', 'a; Domain=evil.com'],
    ['CR LF', 'a\r\nSet-Cookie: x=y'],
    ['space', 'a b'],
    ['comma', 'a,b'],
    ['quote', 'a"b'],
    ['non-ASCII', 'é'],
    ['empty (clear with undefined)', ''],
    ['zero Max-Age', 'v', 0],
    ['fractional Max-Age', 'v', 1.5],
  ]
  for (const [label, value, maxAge] of cases) t.throws(() => c.write(value as string, [], maxAge), { code: 'GH_ERR_INTERNAL' }, label)
})

t.test('construction checks names, domain and combinations', async (t) => {
  const cases: [string, Partial<CookieOptions>, RegExp][] = [
    ['empty name', { name: '' }, /cookie name/],
    ['space in name', { name: 'a b' }, /cookie name/],
    ['semicolon in name', { name: 'a;b' }, /cookie name/],
    ['comma in name', { name: 'a,b' }, /cookie name/],
    ['equals in name', { name: 'a=b' }, /cookie name/],
    ['CR LF in name', { name: 'a\r\nb' }, /cookie name "a\\r\\nb"/],
    ['non-ASCII name', { name: 'sessión' }, /cookie name/],
    ['semicolon in domain', { domain: 'example.com; Secure' }, /domain/],
    ['comma in domain', { domain: 'a.com,b.com' }, /domain/],
    ['space in domain', { domain: 'example .com' }, /domain/],
    ['CR LF in domain', { domain: 'example.com\r\nX: y' }, /domain/],
    ['empty domain', { domain: '' }, /domain/],
    ['empty label', { domain: 'a..com' }, /domain/],
    ['trailing dot', { domain: 'example.com.' }, /domain/],
    ['port', { domain: 'example.com:8080' }, /domain/],
    ['unknown same_site', { sameSite: 'lenient' as 'lax' }, /same_site/],
    ['same_site none over http', { sameSite: 'none', httpLoopback: true }, /none requires/],
    ['__Host- with a domain', { name: '__Host-gh', domain: 'example.com' }, /domain/],
    ['__Host- over http', { name: '__host-gh', httpLoopback: true }, /Secure/],
    ['__Secure- over http', { name: '__Secure-gh', httpLoopback: true }, /Secure/],
    ['zero lifetime', { lifetimeSeconds: 0 }, /lifetime/],
    ['no chunks', { maxChunks: 0 }, /chunk count/],
    ['too many chunks', { maxChunks: 51 }, /chunk count/],
    ['chunk beyond what browsers keep', { chunkSize: 4096 }, /chunk size/],
    ['zero chunk size', { chunkSize: 0 }, /chunk size/],
  ]
  for (const [label, options, message] of cases) t.throws(() => cookie(options), { code: 'GH_ERR_CONFIG_INVALID', message }, label)
  // The largest chunk that still fits 4096 bytes with the longest chunk name, `_gatehouse_7=`.
  t.doesNotThrow(() => cookie({ chunkSize: 4096 - '_gatehouse_7='.length }))
  t.throws(() => cookie({ chunkSize: 4096 - '_gatehouse_7='.length + 1 }), { code: 'GH_ERR_CONFIG_INVALID' })
  t.doesNotThrow(() => cookie({ domain: 'localhost' }))
  t.doesNotThrow(() => cookie({ domain: '10.0.0.1' }))
})

t.test('isHttpLoopback', async (t) => {
  const cases: [string, boolean][] = [
    ['http://localhost:8080', true],
    ['http://LOCALHOST', true],
    ['http://app.localhost', true],
    ['http://127.0.0.1:3000', true],
    ['http://127.1.2.3', true],
    ['http://[::1]:8080', true],
    ['https://localhost', false],
    ['http://example.com', false],
    ['http://localhost.example.com', false],
    ['http://127.0.0.1.nip.io', false],
    ['http://10.0.0.1', false],
    ['not a url', false],
  ]
  for (const [origin, expected] of cases) t.equal(isHttpLoopback(origin), expected, origin)
  t.equal(isHttpLoopback(new URL('http://localhost')), true, 'a URL object')
})
