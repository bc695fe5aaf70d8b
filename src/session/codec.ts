// Sessions live in the browser, so they are sealed: AES-256-GCM both hides what is in
// them and proves that Gatehouse wrote them. A token is, in base64url:
//
//   version (1 byte) | key id (4 bytes) | IV (12 random bytes) | ciphertext | tag (16 bytes)
//
// The key id is not secret (HKDF output under its own info string, so it says nothing
// about the key). It lets a decode run one decryption instead of one per configured
// secret, and it tells "sealed with a secret since rotated out" (routine after a
// rotation) apart from "altered" (worth a second look) in the logs. The additional
// authenticated data is the version, the key id and the cookie name: a token sealed for
// one cookie (the sign-in transaction, say) does not open as another (the session).
//
// Random 96-bit IVs are safe for about 2^32 seals per key; rotating secrets resets that.
// Nothing is compressed before sealing: the payload holds values a user can influence
// (a display name), and compressed length would leak how they relate to the rest.

import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { GatehouseError } from '../errors.js'
import { DEFAULT_CHUNK_SIZE, DEFAULT_MAX_CHUNKS } from './chunks.js'

export const TOKEN_VERSION = 1
/** How far a token's issue time may be ahead of this clock (another instance's clock). */
export const CLOCK_SKEW_SECONDS = 60
/** The default bound on a token: what the default chunking can carry. */
export const DEFAULT_MAX_TOKEN_LENGTH = DEFAULT_CHUNK_SIZE * DEFAULT_MAX_CHUNKS

const KEY_BYTES = 32
const KEY_ID_BYTES = 4
const IV_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + KEY_ID_BYTES
const MIN_TOKEN_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES
/** base64url length of MIN_TOKEN_BYTES: anything shorter cannot be a token. */
const MIN_TOKEN_LENGTH = Math.ceil((MIN_TOKEN_BYTES * 4) / 3)
// Fixed info strings give each use of a secret its own key, so the same secret can later
// key other things (CSRF tokens, say) without two purposes ever sharing an AES key.
const AES_KEY_INFO = 'gatehouse session cookie aes-256-gcm v1'
const KEY_ID_INFO = 'gatehouse session cookie key id v1'

/**
 * Why a token did not open. 'absent': no token; 'too-large': longer than the bound,
 * refused before any work; 'malformed': not base64url, too short, or (sealed by a key we
 * hold, so only a bug could do it) not a session; 'bad-version': another token format;
 * 'unknown-key': sealed with a secret no longer configured; 'tampered': altered, or
 * sealed for another cookie name; 'expired': exp has passed; 'not-yet-valid': iat is more
 * than CLOCK_SKEW_SECONDS ahead.
 */
export type DecodeReason = 'absent' | 'too-large' | 'malformed' | 'bad-version' | 'unknown-key' | 'tampered' | 'expired' | 'not-yet-valid'

/**
 * `payload` is set exactly when `reason` is not, so `const { payload } = decode(...)` is
 * the whole check for callers that do not log. Failures are shared frozen objects: a
 * flood of garbage cookies allocates nothing.
 */
export type Decoded<P> =
  | { readonly payload: P; readonly reason: undefined; /** seconds */ readonly iat: number; /** seconds */ readonly exp: number }
  | { readonly payload: undefined; readonly reason: DecodeReason }

export type Failure = Extract<Decoded<never>, { reason: DecodeReason }>

const FAILURES: { readonly [R in DecodeReason]: Failure } = Object.freeze({
  absent: fail('absent'),
  'too-large': fail('too-large'),
  malformed: fail('malformed'),
  'bad-version': fail('bad-version'),
  'unknown-key': fail('unknown-key'),
  tampered: fail('tampered'),
  expired: fail('expired'),
  'not-yet-valid': fail('not-yet-valid'),
})

function fail(reason: DecodeReason): Failure {
  return Object.freeze({ payload: undefined, reason })
}

export function failure(reason: DecodeReason): Failure {
  return FAILURES[reason]
}

export interface CodecOptions {
  /** 32-byte keys in base64 (standard or url-safe, padded or not); the first seals, all open. */
  readonly secrets: readonly string[]
  /** exp = iat + this, unless an encode says otherwise. */
  readonly lifetimeSeconds: number
  /** Longest token encode produces and decode looks at; default DEFAULT_MAX_TOKEN_LENGTH. */
  readonly maxLength?: number
}

export interface EncodeOptions {
  /** Seconds; default the wall clock. Becomes iat. */
  readonly now?: number
  /** Absolute exp in seconds, to keep a session's end when it is re-sealed. */
  readonly expiresAt?: number
  /** exp = now + this when expiresAt is not given; default the codec's lifetime. */
  readonly lifetimeSeconds?: number
}

interface Key {
  readonly id: number
  readonly aes: KeyObject
  /** version and key id, the start of every token sealed with this key. */
  readonly header: Buffer
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export class SessionCodec {
  readonly lifetimeSeconds: number
  readonly maxLength: number
  private readonly sealing: Key
  /** Usually one key per id; a list in case two secrets' ids collide (2^-32). */
  private readonly opening = new Map<number, Key[]>()

  constructor(options: CodecOptions) {
    const { secrets, lifetimeSeconds } = options
    const maxLength = options.maxLength ?? DEFAULT_MAX_TOKEN_LENGTH
    if (!Array.isArray(secrets) || secrets.length === 0) {
      throw new GatehouseError('GH_ERR_SESSION_SECRET', 'session.secrets is empty: give at least one 32-byte key in base64')
    }
    if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', 'the session lifetime must be a whole number of seconds above zero')
    }
    if (!Number.isSafeInteger(maxLength) || maxLength < MIN_TOKEN_LENGTH) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `the session token bound must be at least ${MIN_TOKEN_LENGTH} characters`)
    }
    const seen: Buffer[] = []
    const keys: Key[] = []
    secrets.forEach((secret, index) => {
      const bytes = parseSecret(secret, index)
      // A repeated secret (the same key listed twice during a rotation) adds nothing.
      if (seen.some((other) => other.equals(bytes))) return
      seen.push(bytes)
      keys.push(deriveKey(bytes))
    })
    this.sealing = keys[0]
    for (const key of keys) {
      const list = this.opening.get(key.id)
      if (list) list.push(key)
      else this.opening.set(key.id, [key])
    }
    this.lifetimeSeconds = lifetimeSeconds
    this.maxLength = maxLength
  }

  /**
   * Seals `payload` (a JSON-serialisable object) for the cookie `name`, with iat = now and
   * exp = expiresAt or now + lifetime. Throws GH_ERR_SESSION_TOO_LARGE past maxLength.
   */
  encode(name: string, payload: object, options: EncodeOptions = {}): string {
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new GatehouseError('GH_ERR_INTERNAL', 'a session payload must be a JSON object')
    }
    const iat = Math.floor(options.now ?? nowSeconds())
    const exp = Math.floor(options.expiresAt ?? iat + (options.lifetimeSeconds ?? this.lifetimeSeconds))
    let json: string
    try {
      json = JSON.stringify({ iat, exp, p: payload })
    } catch (err) {
      throw new GatehouseError('GH_ERR_INTERNAL', 'a session payload is not JSON-serialisable', { cause: err })
    }
    const plaintext = Buffer.from(json, 'utf8')
    // Checked before sealing: the length of base64url without padding is known in advance.
    const length = Math.ceil(((MIN_TOKEN_BYTES + plaintext.length) * 4) / 3)
    if (length > this.maxLength) {
      throw new GatehouseError('GH_ERR_SESSION_TOO_LARGE', `the sealed session would be ${length} characters; at most ${this.maxLength} fit`)
    }
    const key = this.sealing
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key.aes, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(aad(key.header, name))
    const head = cipher.update(plaintext)
    const tail = cipher.final()
    return Buffer.concat([key.header, iv, head, tail, cipher.getAuthTag()]).toString('base64url')
  }

  /**
   * Opens a token sealed for the cookie `name`. Never throws: anything that is not a
   * current session sealed by one of our secrets for this name gives a reason instead.
   * The checks run cheapest first, so garbage costs no decryption. The payload's shape
   * is the caller's to check: sealed by us is not the same as written by this version.
   */
  decode<P extends object = Record<string, unknown>>(name: string, token: string | undefined, now: number = nowSeconds()): Decoded<P> {
    if (typeof token !== 'string' || token === '') return FAILURES.absent
    if (token.length > this.maxLength) return FAILURES['too-large']
    if (token.length < MIN_TOKEN_LENGTH) return FAILURES.malformed
    const bytes = Buffer.from(token, 'base64url')
    // Node's decoder skips what it does not understand; only the canonical text is a token.
    if (bytes.length < MIN_TOKEN_BYTES || bytes.toString('base64url') !== token) return FAILURES.malformed
    if (bytes[0] !== TOKEN_VERSION) return FAILURES['bad-version']
    const keys = this.opening.get(bytes.readUInt32BE(1))
    if (!keys) return FAILURES['unknown-key']
    const iv = bytes.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES)
    const ciphertext = bytes.subarray(HEADER_BYTES + IV_BYTES, bytes.length - TAG_BYTES)
    const tag = bytes.subarray(bytes.length - TAG_BYTES)
    let plaintext: Buffer | undefined
    for (const key of keys) {
      plaintext = open(key, name, iv, ciphertext, tag)
      if (plaintext) break
    }
    if (!plaintext) return FAILURES.tampered
    let body: unknown
    try {
      body = JSON.parse(plaintext.toString('utf8'))
    } catch {
      return FAILURES.malformed
    }
    if (!isObject(body)) return FAILURES.malformed
    const { iat, exp, p } = body
    if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp) || !isObject(p)) return FAILURES.malformed
    const t = Math.floor(now)
    if (t >= (exp as number)) return FAILURES.expired
    if ((iat as number) > t + CLOCK_SKEW_SECONDS) return FAILURES['not-yet-valid']
    return { payload: p as P, reason: undefined, iat: iat as number, exp: exp as number }
  }
}

function open(key: Key, name: string, iv: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.aes, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(aad(key.header, name))
    decipher.setAuthTag(tag)
    const head = decipher.update(ciphertext)
    return Buffer.concat([head, decipher.final()])
  } catch {
    return undefined
  }
}

/** The header has a fixed length, so header + name cannot be read two ways. */
function aad(header: Buffer, name: string): Buffer {
  return Buffer.concat([header, Buffer.from(name, 'utf8')])
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function deriveKey(secret: Buffer): Key {
  const aes = createSecretKey(Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), AES_KEY_INFO, KEY_BYTES)))
  const id = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), KEY_ID_INFO, KEY_ID_BYTES)).readUInt32BE(0)
  const header = Buffer.alloc(HEADER_BYTES)
  header[0] = TOKEN_VERSION
  header.writeUInt32BE(id, 1)
  return { id, aes, header }
}

const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const URL_BASE64 = /^[A-Za-z0-9_-]+={0,2}$/

/** Why `text` is not a session secret (exactly 32 bytes in canonical base64 of either
 *  alphabet, padded or not; surrounding whitespace ignored), or undefined when it is.
 *  The answer never quotes the text. */
export function secretProblem(text: string): string | undefined {
  return decodeSecret(text).problem
}

function decodeSecret(secret: string): { bytes: Buffer; problem?: undefined } | { bytes?: undefined; problem: string } {
  const text = secret.trim()
  const url = URL_BASE64.test(text)
  if (!url && !STANDARD_BASE64.test(text)) return { problem: 'it holds characters outside base64' }
  const bare = text.replace(/=+$/, '')
  if (text.length !== bare.length ? text.length % 4 !== 0 : bare.length % 4 === 1) return { problem: 'its length is not that of base64' }
  const bytes = Buffer.from(bare, url ? 'base64url' : 'base64')
  const again = bytes.toString(url ? 'base64url' : 'base64').replace(/=+$/, '')
  if (again !== bare) return { problem: 'it is not canonical base64' }
  if (bytes.length !== KEY_BYTES) return { problem: `it decodes to ${bytes.length} bytes` }
  return { bytes }
}

function parseSecret(secret: unknown, index: number): Buffer {
  const decoded = typeof secret === 'string' ? decodeSecret(secret) : { problem: 'it is not a string' }
  if (decoded.bytes === undefined) {
    throw new GatehouseError('GH_ERR_SESSION_SECRET', `session.secrets[${index}] is not a 32-byte key in base64: ${decoded.problem}`)
  }
  return decoded.bytes
}
