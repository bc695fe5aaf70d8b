import { createCipheriv, hkdfSync } from 'node:crypto'
import t from 'tap'
import { GatehouseError } from '../../src/errors.js'
import { CLOCK_SKEW_SECONDS, DEFAULT_MAX_TOKEN_LENGTH, SessionCodec, type DecodeReason } from '../../src/session/codec.js'

const key = (seed: number): Buffer => Buffer.from(Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) & 0xff))
const A = key(1).toString('base64')
const B = key(2).toString('base64url')
const C = key(3).toString('base64')
const NAME = '_gatehouse'
const NOW = 1_767_600_000
const LIFETIME = 14 * 3600

const codec = (secrets: string[] = [A], maxLength?: number): SessionCodec =>
  new SessionCodec({ secrets, lifetimeSeconds: LIFETIME, ...(maxLength === undefined ? {} : { maxLength }) })

/**
 * Seals arbitrary plaintext the way the format is documented, independently of the
 * module: version 1, key id and AES key from HKDF-SHA256 with the fixed info strings,
 * AAD = version | key id | cookie name. Lets the tests reach states the encoder never
 * produces (bad JSON, a future iat) and pins the wire format.
 */
function seal(plaintext: string, secret: Buffer, name = NAME, version = 1): string {
  const aesKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'gatehouse session cookie aes-256-gcm v1', 32))
  const keyId = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'gatehouse session cookie key id v1', 4))
  const header = Buffer.concat([Buffer.from([version]), keyId])
  const iv = Buffer.alloc(12, 9)
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv)
  cipher.setAAD(Buffer.concat([header, Buffer.from(name)]))
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([header, iv, ciphertext, cipher.getAuthTag()]).toString('base64url')
}

const bytesOf = (token: string): Buffer => Buffer.from(token, 'base64url')
const b64 = (bytes: Buffer): string => bytes.toString('base64url')

t.test('round trip', async (t) => {
  const payloads: [string, Record<string, unknown>][] = [
    ['empty object', {}],
    ['claims', { sub: 'auth0|123', email: 'ann@example.com', groups: ['premium', 'staff'] }],
    ['nested and unicode', { name: 'Zoë 李', claims: { amr: ['mfa'], n: 1.5, ok: true, none: null } }],
    ['keys named like the envelope', { iat: 'x', exp: 'y', p: 'z' }],
    ['many groups', { groups: Array.from({ length: 300 }, (_, i) => `group-${i}`) }],
  ]
  const c = codec()
  for (const [label, payload] of payloads) {
    const token = c.encode(NAME, payload, { now: NOW })
    t.match(token, /^[A-Za-z0-9_-]+$/, `${label}: base64url`)
    t.same(c.decode(NAME, token, NOW), { payload, reason: undefined, iat: NOW, exp: NOW + LIFETIME }, label)
  }
})

t.test('the wire format is the documented one', async (t) => {
  const token = seal(JSON.stringify({ iat: NOW, exp: NOW + 10, p: { sub: 'x' } }), key(1))
  t.same(codec().decode(NAME, token, NOW), { payload: { sub: 'x' }, reason: undefined, iat: NOW, exp: NOW + 10 })
  const ours = bytesOf(codec().encode(NAME, { sub: 'x' }, { now: NOW }))
  t.same([...ours.subarray(0, 5)], [...bytesOf(token).subarray(0, 5)], 'version and key id')
  t.equal(ours.length, 1 + 4 + 12 + JSON.stringify({ iat: NOW, exp: NOW + LIFETIME, p: { sub: 'x' } }).length + 16)
})

t.test('each encode uses a fresh IV', async (t) => {
  const c = codec()
  const one = bytesOf(c.encode(NAME, { sub: 'x' }, { now: NOW }))
  const two = bytesOf(c.encode(NAME, { sub: 'x' }, { now: NOW }))
  t.not(b64(one.subarray(5, 17)), b64(two.subarray(5, 17)))
})

t.test('expiry: lifetime, per-call lifetime, absolute expiresAt', async (t) => {
  const c = codec()
  const cases: [string, object, number][] = [
    ['codec lifetime', { now: NOW }, NOW + LIFETIME],
    ['per-call lifetime', { now: NOW, lifetimeSeconds: 600 }, NOW + 600],
    ['kept absolute end', { now: NOW, expiresAt: NOW + 42 }, NOW + 42],
    ['fractional now is floored', { now: NOW + 0.9, lifetimeSeconds: 5 }, NOW + 5],
  ]
  for (const [label, options, exp] of cases) {
    const out = c.decode(NAME, c.encode(NAME, { a: 1 }, options), NOW)
    t.equal(out.reason, undefined, label)
    if (out.reason === undefined) t.equal(out.exp, exp, label)
  }
})

t.test('rotation: the first secret seals, every secret opens', async (t) => {
  const before = codec([A])
  const during = codec([B, A])
  const after = codec([B])
  const old = before.encode(NAME, { sub: 'old' }, { now: NOW })
  const fresh = during.encode(NAME, { sub: 'new' }, { now: NOW })
  t.same(during.decode(NAME, old, NOW).payload, { sub: 'old' }, 'old secret still opens')
  t.same(during.decode(NAME, fresh, NOW).payload, { sub: 'new' })
  t.same(after.decode(NAME, fresh, NOW).payload, { sub: 'new' }, 'sealed with the new secret')
  t.equal(before.decode(NAME, fresh, NOW).reason, 'unknown-key', 'not with the old one')
  t.equal(after.decode(NAME, old, NOW).reason, 'unknown-key', 'old secret retired')
  t.same(codec([A, A]).decode(NAME, old, NOW).payload, { sub: 'old' }, 'a repeated secret is harmless')
  t.same(codec([key(1).toString('base64url')]).decode(NAME, old, NOW).payload, { sub: 'old' }, 'either alphabet, same key')
})

t.test('bad input gives undefined and its reason', async (t) => {
  const c = codec()
  const good = c.encode(NAME, { sub: 'x' }, { now: NOW })
  const goodBytes = bytesOf(good)
  const withVersion = (v: number): string => {
    const copy = Buffer.from(goodBytes)
    copy[0] = v
    return b64(copy)
  }
  const body = (value: unknown): string => seal(JSON.stringify(value), key(1))
  // Deterministic (fixed IV), and it holds both url-safe characters.
  const sealedValid = body({ iat: NOW, exp: NOW + 9, p: { sub: 'x' } })
  t.match(sealedValid, /-.*_|_.*-/, 'precondition: the alphabet case differs from base64url')
  t.equal(c.decode(NAME, sealedValid, NOW).reason, undefined, 'precondition: it opens as base64url')
  const cases: [string, string | undefined, DecodeReason, number?][] = [
    ['no cookie', undefined, 'absent'],
    ['empty cookie', '', 'absent'],
    ['garbage', 'hello', 'malformed'],
    ['garbage of token length', 'x'.repeat(good.length), 'bad-version'],
    ['garbage behind a version byte', b64(Buffer.concat([Buffer.from([1]), Buffer.alloc(60, 7)])), 'unknown-key'],
    ['not base64url', '!'.repeat(good.length), 'malformed'],
    ['standard base64 alphabet', sealedValid.replace(/-/g, '+').replace(/_/g, '/'), 'malformed'],
    ['padding added', good + '=', 'malformed'],
    ['whitespace inside', good.slice(0, 10) + ' ' + good.slice(10), 'malformed'],
    ['truncated below the minimum', b64(goodBytes.subarray(0, 32)), 'malformed'],
    ['truncated by one byte', b64(goodBytes.subarray(0, -1)), 'tampered'],
    ['truncated tag', b64(goodBytes.subarray(0, -8)), 'tampered'],
    ['extended by one byte', b64(Buffer.concat([goodBytes, Buffer.from([0])])), 'tampered'],
    ['version 0', withVersion(0), 'bad-version'],
    ['version 2', withVersion(2), 'bad-version'],
    ['sealed with a valid key under version 2', seal(JSON.stringify({ iat: NOW, exp: NOW + 9, p: {} }), key(1), NAME, 2), 'bad-version'],
    ['foreign key', codec([C]).encode(NAME, { sub: 'x' }, { now: NOW }), 'unknown-key'],
    ['moved from another cookie', c.encode('_gatehouse_tx', { sub: 'x' }, { now: NOW }), 'tampered'],
    ['expired: at exp', good, 'expired', NOW + LIFETIME],
    ['expired: long after', good, 'expired', NOW + LIFETIME * 10],
    ['iat beyond the skew', good, 'not-yet-valid', NOW - CLOCK_SKEW_SECONDS - 1],
    ['oversized', 'A'.repeat(DEFAULT_MAX_TOKEN_LENGTH + 1), 'too-large'],
    ['not JSON', seal('{"iat":', key(1)), 'malformed'],
    ['JSON but not an object', body([1, 2]), 'malformed'],
    ['JSON null', body(null), 'malformed'],
    ['no exp', body({ iat: NOW, p: {} }), 'malformed'],
    ['iat a string', body({ iat: String(NOW), exp: NOW + 9, p: {} }), 'malformed'],
    ['fractional exp', body({ iat: NOW, exp: NOW + 9.5, p: {} }), 'malformed'],
    ['payload an array', body({ iat: NOW, exp: NOW + 9, p: [] }), 'malformed'],
    ['payload missing', body({ iat: NOW, exp: NOW + 9 }), 'malformed'],
    ['sealed in the future', body({ iat: NOW + 3600, exp: NOW + 7200, p: {} }), 'not-yet-valid'],
  ]
  for (const [label, token, reason, now] of cases) {
    t.same(c.decode(NAME, token, now ?? NOW), { payload: undefined, reason }, label)
  }
})

t.test('the time boundaries accept what they should', async (t) => {
  const c = codec()
  const good = c.encode(NAME, { sub: 'x' }, { now: NOW })
  const cases: [string, number][] = [
    ['a second before exp', NOW + LIFETIME - 1],
    ['iat exactly the skew ahead', NOW - CLOCK_SKEW_SECONDS],
    ['fractional clock', NOW + 0.5],
  ]
  for (const [label, now] of cases) t.same(c.decode(NAME, good, now).payload, { sub: 'x' }, label)
  const sealedAhead = seal(JSON.stringify({ iat: NOW + 30, exp: NOW + 90, p: { a: 1 } }), key(1))
  t.same(c.decode(NAME, sealedAhead, NOW).payload, { a: 1 }, 'another instance 30 s ahead')
})

t.test('a token at exactly the bound is looked at, one over is not', async (t) => {
  const c = codec([A], 200)
  t.equal(c.decode(NAME, 'A'.repeat(200), NOW).reason, 'bad-version')
  t.equal(c.decode(NAME, 'A'.repeat(201), NOW).reason, 'too-large')
})

t.test('every flipped bit is refused', async (t) => {
  const c = codec([A, C])
  const good = bytesOf(c.encode(NAME, { sub: 'x', groups: ['a'] }, { now: NOW }))
  const seen: Record<string, Set<string>> = { version: new Set(), 'key id': new Set(), IV: new Set(), ciphertext: new Set(), tag: new Set() }
  const region = (i: number): string => (i === 0 ? 'version' : i < 5 ? 'key id' : i < 17 ? 'IV' : i < good.length - 16 ? 'ciphertext' : 'tag')
  let accepted = 0
  for (let i = 0; i < good.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(good)
      copy[i] ^= 1 << bit
      const out = c.decode(NAME, b64(copy), NOW)
      if (out.payload !== undefined) accepted++
      seen[region(i)].add(String(out.reason))
    }
  }
  t.equal(accepted, 0)
  t.same(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...v]])), {
    version: ['bad-version'],
    'key id': ['unknown-key'],
    IV: ['tampered'],
    ciphertext: ['tampered'],
    tag: ['tampered'],
  })
})

t.test('failures are shared objects, and decode never throws', async (t) => {
  const c = codec()
  t.equal(c.decode(NAME, 'x', NOW), c.decode(NAME, 'y', NOW), 'no allocation per failure')
  t.ok(Object.isFrozen(c.decode(NAME, 'x', NOW)))
  const odd: unknown[] = [null, 42, {}, [], Symbol('x')]
  for (const value of odd) t.doesNotThrow(() => c.decode(NAME, value as string, NOW))
  t.equal(c.decode(NAME, 42 as unknown as string, NOW).reason, 'absent')
})

t.test('encode refuses what it cannot seal', async (t) => {
  const c = codec([A], 300)
  const circular: Record<string, unknown> = {}
  circular.self = circular
  const cases: [string, () => unknown, string][] = [
    ['too large for the bound', () => c.encode(NAME, { blob: 'x'.repeat(400) }), 'GH_ERR_SESSION_TOO_LARGE'],
    ['an array', () => c.encode(NAME, [1]), 'GH_ERR_INTERNAL'],
    ['null', () => c.encode(NAME, null as unknown as object), 'GH_ERR_INTERNAL'],
    ['a cycle', () => c.encode(NAME, circular), 'GH_ERR_INTERNAL'],
    ['a bigint', () => c.encode(NAME, { n: 1n }), 'GH_ERR_INTERNAL'],
  ]
  for (const [label, run, code] of cases) t.throws(run, { code }, label)
  // The bound is checked before sealing, and exactly: the largest payload that fits is sealed.
  const envelope = JSON.stringify({ iat: NOW, exp: NOW + LIFETIME, p: { b: '' } }).length
  const fits = Math.floor((300 * 3) / 4) - 33 - envelope
  t.ok(c.encode(NAME, { b: 'x'.repeat(fits) }, { now: NOW }).length <= 300)
  t.throws(() => c.encode(NAME, { b: 'x'.repeat(fits + 1) }, { now: NOW }), { code: 'GH_ERR_SESSION_TOO_LARGE' })
})

t.test('secrets are checked at construction, and never echoed', async (t) => {
  const good: [string, string][] = [
    ['standard, padded', key(4).toString('base64')],
    ['url-safe, unpadded', key(5).toString('base64url')],
    ['standard, unpadded', key(6).toString('base64').replace(/=+$/, '')],
    ['url-safe, padded', key(7).toString('base64url') + '='],
    ['trailing newline from a file', key(8).toString('base64') + '\n'],
  ]
  for (const [label, secret] of good) t.doesNotThrow(() => codec([secret]), label)

  const k = key(9)
  const std = k.toString('base64')
  // 32 bytes leave 2 unused bits in the last character; setting one changes the text, not the key.
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const nonCanonical = std.slice(0, 42) + ALPHABET[ALPHABET.indexOf(std[42]) ^ 1] + '='
  t.equal(Buffer.from(nonCanonical, 'base64').equals(k), true, 'precondition: same bytes, other text')
  const bad: [string, unknown[], RegExp][] = [
    ['31 bytes', [key(9).subarray(0, 31).toString('base64')], /secrets\[0\].*decodes to 31 bytes/],
    ['33 bytes', [Buffer.concat([k, Buffer.from([1])]).toString('base64')], /decodes to 33 bytes/],
    ['64 hex digits', [k.toString('hex')], /decodes to 48 bytes/],
    ['a passphrase', ['correct horse battery staple!'], /outside base64/],
    ['short', ['hunter2'], /secrets\[0\]/],
    ['mixed alphabets', [std.replace(/^./, '+').replace(/.(=*)$/, '_$1')], /outside base64/],
    ['padding on the wrong length', [std.replace(/=+$/, '') + '=='], /length/],
    ['non-canonical trailing bits', [nonCanonical], /canonical/],
    ['empty string', [''], /secrets\[0\]/],
    ['second entry bad', [A, 'not-a-key'], /secrets\[1\]/],
    ['not a string', [42], /not a string/],
    ['empty list', [], /empty/],
  ]
  for (const [label, secrets, message] of bad) {
    let caught: unknown
    try {
      codec(secrets as string[])
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof GatehouseError, label)
    const err = caught as GatehouseError
    t.equal(err.code, 'GH_ERR_SESSION_SECRET', label)
    t.equal(err.status, 500, label)
    t.match(err.message, message, label)
    t.equal(err.cause, undefined, `${label}: no cause carrying the secret`)
    for (const secret of secrets) {
      if (typeof secret === 'string' && secret.length > 0) {
        t.notOk(err.message.includes(secret), `${label}: message leaves out the secret`)
        t.notOk(String(err.stack).includes(secret), `${label}: stack leaves out the secret`)
      }
    }
  }
})

t.test('other options are checked at construction', async (t) => {
  const cases: [string, () => unknown][] = [
    ['zero lifetime', () => new SessionCodec({ secrets: [A], lifetimeSeconds: 0 })],
    ['fractional lifetime', () => new SessionCodec({ secrets: [A], lifetimeSeconds: 1.5 })],
    ['bound below a minimal token', () => new SessionCodec({ secrets: [A], lifetimeSeconds: 60, maxLength: 10 })],
  ]
  for (const [label, run] of cases) t.throws(run, { code: 'GH_ERR_CONFIG_INVALID' }, label)
})
