// Break-glass local accounts: who they are (read from the accounts file at config load,
// see config/compile-local-accounts.ts) and their password checks. Passwords are kept
// only as scrypt hashes in a self-describing text form, `scrypt$N$r$p$salt$key`
// (salt and key in base64url), so the cost can be raised later without breaking the
// hashes already written.

import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** The IdP id of sessions signed in with a local account: reserved, so no `idps` entry
 *  can take it while local accounts are on. */
export const LOCAL_IDP_ID = 'local'

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number
  /** Block size. */
  readonly r: number
  /** Parallelisation (computed one after the other by Node: time, not memory). */
  readonly p: number
}

/** What `gatehouse hash-password` writes: about 32 MiB and some 50-100 ms per check, so
 *  a stolen accounts file is slow to guess against, and a sign-in still feels instant. */
export const SCRYPT_DEFAULTS: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })
const SALT_BYTES = 16
const KEY_BYTES = 32
/** Hashes cheaper than this are refused: they would be quick to guess offline. */
const MIN_N = 2 ** 14
/** The most memory one check may take (128 * N * r). A hash in the file decides how much
 *  a sign-in attempt costs; without a bound, a mistaken or hostile hash could make every
 *  attempt allocate gigabytes. */
const MAX_SCRYPT_MEMORY = 64 * 1024 * 1024
const MAX_P = 4

export interface PasswordHash {
  readonly params: ScryptParams
  readonly salt: Buffer
  readonly key: Buffer
}

const FORMAT = 'scrypt$N$r$p$salt$key, as gatehouse hash-password writes it'

/** Base64url without padding, and only its canonical spelling (so a hash has one form). */
function fromBase64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}

/** The hash, or why it is not one. The text itself is never quoted back: a password
 *  pasted where its hash belongs must not end up in an error message or a log. */
export function parsePasswordHash(text: string): PasswordHash | { error: string } {
  const parts = text.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return { error: `is not a password hash (expected ${FORMAT}); the value is not shown` }
  const [N, r, p] = parts.slice(1, 4).map((n) => (/^[1-9]\d{0,9}$/.test(n) ? Number(n) : NaN))
  if (!Number.isInteger(N) || N < MIN_N || (N & (N - 1)) !== 0) return { error: `has an scrypt N that is not a power of two of at least ${MIN_N}` }
  if (!Number.isInteger(r) || r < 1 || 128 * N * r > MAX_SCRYPT_MEMORY)
    return { error: `has scrypt N and r needing more than ${MAX_SCRYPT_MEMORY / 1024 / 1024} MiB per check (128 * N * r)` }
  if (!Number.isInteger(p) || p < 1 || p > MAX_P) return { error: `has an scrypt p outside 1..${MAX_P}` }
  const salt = fromBase64url(parts[4])
  if (!salt || salt.length < SALT_BYTES || salt.length > 64) return { error: `has a salt that is not ${SALT_BYTES} to 64 bytes of base64url` }
  const key = fromBase64url(parts[5])
  if (!key || key.length < 16 || key.length > 64) return { error: 'has a derived key that is not 16 to 64 bytes of base64url' }
  return { params: { N, r, p }, salt, key }
}

export function formatPasswordHash(hash: PasswordHash): string {
  const { N, r, p } = hash.params
  return `scrypt$${N}$${r}$${p}$${hash.salt.toString('base64url')}$${hash.key.toString('base64url')}`
}

/** The same password typed on two systems may arrive composed differently (é as one code
 *  point or two); both hashing and checking see the composed form. */
const normalized = (password: string) => Buffer.from(password.normalize('NFC'), 'utf8')

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const { N, r, p } = params
  // Node refuses a derivation whose memory exceeds maxmem (32 MiB by default, just under
  // what N=2^15 r=8 needs): allow exactly what these parameters take, which parsing
  // bounded, and no more.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * r * (N + p + 2) + 1024 * 1024 }
  return new Promise((resolve, reject) => scrypt(normalized(password), salt, length, options, (err, key) => (err ? reject(err) : resolve(key))))
}

/** A fresh hash of `password` with a random salt, in the accounts file's text form. */
export async function hashPassword(password: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  return formatPasswordHash({ params, salt, key: await derive(password, salt, params, KEY_BYTES) })
}

/** Whether `password` matches `hash`, compared in constant time. */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.params, hash.key.length)
  return timingSafeEqual(key, hash.key)
}

export interface LocalAccount {
  readonly username: string
  readonly email?: string
  readonly name?: string
  readonly groups: readonly string[]
  readonly hash: PasswordHash
}

/** The accounts of one accounts file, by username. */
export class LocalAccounts {
  private readonly byName: ReadonlyMap<string, LocalAccount>
  /** Checked against for usernames that do not exist: random, so nothing matches it,
   *  with the cost of the file's own hashes, so it takes as long as a real check. */
  private readonly dummy: PasswordHash

  constructor(
    accounts: readonly LocalAccount[],
    /** The accounts file, as shown to the operator. */
    readonly file: string,
  ) {
    this.byName = new Map(accounts.map((a) => [a.username, a]))
    this.dummy = { params: accounts[0]?.hash.params ?? SCRYPT_DEFAULTS, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES) }
  }

  get size(): number {
    return this.byName.size
  }

  has(username: string): boolean {
    return this.byName.has(username)
  }

  /** The account when the username exists and the password is its own. An unknown
   *  username costs a full scrypt check as well, so the time an answer takes does not
   *  tell which accounts exist. */
  async check(username: string, password: string): Promise<LocalAccount | undefined> {
    const account = this.byName.get(username)
    const matches = await verifyPassword(password, account?.hash ?? this.dummy)
    return matches && account !== undefined ? account : undefined
  }
}
