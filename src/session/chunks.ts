// Browsers keep about 4096 bytes of one cookie, and a session from an IdP that sends
// many groups outgrows that, so a value is split across `name`, `name_1`, `name_2`, ...
// The chunks carry no framing of their own: the value they join into is authenticated
// as a whole by the codec, so a chunk that is dropped, swapped or left over from an
// older session fails there even if the bookkeeping here were wrong. This file only has
// to keep the common failures (a gap, a stale tail) cheap to detect and to clean up.

import { GatehouseError } from '../errors.js'
import type { CookieMap } from './cookies.js'

export const DEFAULT_CHUNK_SIZE = 3800
export const DEFAULT_MAX_CHUNKS = 8
/** RFC 6265 6.1: browsers keep at least 4096 bytes per cookie (name and value). */
const BROWSER_COOKIE_BYTES = 4096
/** RFC 6265 6.1: and at least 50 cookies per domain; more chunks could evict others. */
const MAX_MAX_CHUNKS = 50

export type SameSite = 'lax' | 'strict' | 'none'

export interface CookieOptions {
  /** The first chunk's name; later chunks are `name_1`, `name_2`, ... */
  readonly name: string
  /** Max-Age written with a value, unless a write names its own. */
  readonly lifetimeSeconds: number
  /** Default lax. */
  readonly sameSite?: SameSite
  /** The origin is plain http on a loopback host (see http/loopback.ts): leave out Secure,
   *  which browsers other than Chromium refuse over http. Never set otherwise. */
  readonly httpLoopback?: boolean
  readonly domain?: string
  /** Bytes of value per cookie; default 3800. */
  readonly chunkSize?: number
  /** Default 8. */
  readonly maxChunks?: number
}

export type ReassembleReason = 'absent' | 'malformed' | 'too-large'

export type Reassembled = { readonly value: string; readonly reason: undefined } | { readonly value: undefined; readonly reason: ReassembleReason }

/** RFC 6265 4.1.1 cookie-name: an RFC 2616 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** RFC 6265 4.1.1 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon, backslash. */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
/** A host name, optionally with the leading dot RFC 6265 says browsers ignore. */
const DOMAIN = new RegExp(`^\\.?${LABEL}(?:\\.${LABEL})*$`)
/** Leftover chunks are recognised (and cleared) up to `name_999`, past today's bound in
 *  case an earlier configuration allowed more. */
const CHUNK_SUFFIX = /^[1-9][0-9]{0,2}$/

const ABSENT: Reassembled = Object.freeze({ value: undefined, reason: 'absent' })
const MALFORMED: Reassembled = Object.freeze({ value: undefined, reason: 'malformed' })
const TOO_LARGE: Reassembled = Object.freeze({ value: undefined, reason: 'too-large' })

/** Why `domain` cannot be a cookie's Domain, or undefined when it can. */
export function cookieDomainProblem(domain: string): string | undefined {
  return typeof domain === 'string' && domain.length <= 253 && DOMAIN.test(domain) ? undefined : `cookie domain ${JSON.stringify(domain)} is not a host name`
}

/** RFC 6265bis cookie prefixes: browsers accept `__Secure-` cookies only with Secure,
 *  and `__Host-` ones only with Secure, Path=/ and no Domain. */
export function cookiePrefix(name: string): '__secure-' | '__host-' | undefined {
  const start = name.slice(0, 9).toLowerCase()
  return start.startsWith('__secure-') ? '__secure-' : start.startsWith('__host-') ? '__host-' : undefined
}

export class ChunkedCookie {
  readonly name: string
  readonly lifetimeSeconds: number
  readonly chunkSize: number
  readonly maxChunks: number
  /** The longest value write accepts and read returns. */
  readonly maxValueLength: number
  /** `name`, `name_1`, ... up to the bound, computed once. */
  private readonly names: readonly string[]
  /** Everything after Max-Age, the same on every write and clear so they address one cookie. */
  private readonly attributes: string

  constructor(options: CookieOptions) {
    const { name, lifetimeSeconds, domain } = options
    const sameSite = options.sameSite ?? 'lax'
    const secure = options.httpLoopback !== true
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
    const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS
    const invalid = (detail: string): GatehouseError => new GatehouseError('GH_ERR_CONFIG_INVALID', detail)

    if (typeof name !== 'string' || !TOKEN.test(name)) {
      throw invalid(`cookie name ${JSON.stringify(name)} is not a cookie name (RFC 6265 token: no spaces, separators or control characters)`)
    }
    const domainIssue = domain === undefined ? undefined : cookieDomainProblem(domain)
    if (domainIssue) throw invalid(domainIssue)
    if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') {
      throw invalid(`cookie same_site ${JSON.stringify(sameSite)} is not one of lax, strict, none`)
    }
    // Browsers drop SameSite=None cookies that lack Secure.
    if (sameSite === 'none' && !secure) throw invalid('cookie same_site none requires https (Secure)')
    if (cookiePrefix(name) !== undefined && !secure) throw invalid(`cookie name ${name} needs Secure, which plain http cannot have`)
    if (cookiePrefix(name) === '__host-' && domain !== undefined) throw invalid(`cookie name ${name} (a __Host- cookie) cannot have a domain`)
    if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
      throw invalid('cookie lifetime must be a whole number of seconds above zero')
    }
    if (!Number.isSafeInteger(maxChunks) || maxChunks < 1 || maxChunks > MAX_MAX_CHUNKS) {
      throw invalid(`cookie chunk count must be between 1 and ${MAX_MAX_CHUNKS}`)
    }
    const longestName = maxChunks === 1 ? name.length : `${name}_${maxChunks - 1}`.length
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || longestName + 1 + chunkSize > BROWSER_COOKIE_BYTES) {
      throw invalid(`cookie chunk size must be between 1 and ${BROWSER_COOKIE_BYTES - longestName - 1} bytes with this name`)
    }

    this.name = name
    this.lifetimeSeconds = lifetimeSeconds
    this.chunkSize = chunkSize
    this.maxChunks = maxChunks
    this.maxValueLength = chunkSize * maxChunks
    this.names = Array.from({ length: maxChunks }, (_, i) => (i === 0 ? name : `${name}_${i}`))
    const sameSiteText = sameSite === 'lax' ? 'Lax' : sameSite === 'strict' ? 'Strict' : 'None'
    this.attributes = '; Path=/' + (domain === undefined ? '' : `; Domain=${domain}`) + '; HttpOnly' + (secure ? '; Secure' : '') + `; SameSite=${sameSiteText}`
  }

  /**
   * Joins `name`, `name_1`, ... from a parsed Cookie header. Chunks past the bound are
   * ignored; a chunk after a missing one (or chunks without a first one) means the set
   * is incomplete, and the answer is 'malformed' rather than a guess.
   */
  read(cookies: CookieMap): Reassembled {
    const first = own(cookies, this.names[0])
    if (first === undefined) {
      for (let i = 1; i < this.maxChunks; i++) if (own(cookies, this.names[i]) !== undefined) return MALFORMED
      return ABSENT
    }
    let value = first
    let i = 1
    for (; i < this.maxChunks; i++) {
      const part = own(cookies, this.names[i])
      if (part === undefined) break
      value += part
      if (value.length > this.maxValueLength) return TOO_LARGE
    }
    for (let j = i + 1; j < this.maxChunks; j++) if (own(cookies, this.names[j]) !== undefined) return MALFORMED
    if (value.length > this.maxValueLength) return TOO_LARGE
    return { value, reason: undefined }
  }

  /**
   * Set-Cookie header values that leave the browser holding `value` (undefined: nothing),
   * given the cookie names it sent. Chunks of an older, longer value are expired, or
   * they would be joined onto the new one at the next read. Clearing always expires the
   * first cookie, sent or not, so a sign-out never depends on what the request carried.
   */
  write(value: string | undefined, sent: Iterable<string>, maxAgeSeconds: number = this.lifetimeSeconds): string[] {
    const out: string[] = []
    let count = 0
    if (value !== undefined) {
      if (typeof value !== 'string' || !COOKIE_VALUE.test(value)) {
        throw new GatehouseError('GH_ERR_INTERNAL', 'a cookie value must be non-empty and hold only cookie-octets')
      }
      if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds <= 0) {
        throw new GatehouseError('GH_ERR_INTERNAL', 'a cookie Max-Age must be a whole number of seconds above zero; clear with undefined')
      }
      count = Math.ceil(value.length / this.chunkSize)
      if (count > this.maxChunks) {
        throw new GatehouseError(
          'GH_ERR_SESSION_TOO_LARGE',
          `the session needs ${count} cookies of ${this.chunkSize} bytes; at most ${this.maxChunks} are allowed`,
        )
      }
      for (let i = 0; i < count; i++) {
        const part = value.slice(i * this.chunkSize, (i + 1) * this.chunkSize)
        out.push(`${this.names[i]}=${part}; Max-Age=${maxAgeSeconds}${this.attributes}`)
      }
    }
    const stale = new Set<number>(value === undefined ? [0] : [])
    for (const name of sent) {
      const index = this.chunkIndex(name)
      if (index !== undefined && index >= count) stale.add(index)
    }
    for (const index of [...stale].sort((a, b) => a - b)) {
      out.push(`${index === 0 ? this.name : `${this.name}_${index}`}=; Max-Age=0${this.attributes}`)
    }
    return out
  }

  /** 0 for `name`, k for `name_k` (canonical digits only), undefined for other cookies. */
  private chunkIndex(cookie: string): number | undefined {
    if (cookie === this.name) return 0
    if (cookie.length <= this.name.length + 1 || !cookie.startsWith(this.name) || cookie[this.name.length] !== '_') return undefined
    const digits = cookie.slice(this.name.length + 1)
    return CHUNK_SUFFIX.test(digits) ? Number(digits) : undefined
  }
}

/** An own, non-empty string property: a cookie map is a plain object, and a cookie named
 *  `constructor` must not find Object's. An empty value is what a clear leaves behind. */
function own(cookies: CookieMap, name: string): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(cookies, name)) return undefined
  const value = cookies[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}
