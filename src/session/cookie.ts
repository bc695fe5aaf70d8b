// The codec and the chunking meet here so that the two things that must agree always do:
// the name a token is sealed for is the cookie's name, and the cookie's Max-Age ends
// when the token's exp does, whether it was just issued or re-sealed with an older end.

import type { SessionSettings } from '../config/compile-auth.js'
import { ChunkedCookie, cookiePrefix, type CookieOptions } from './chunks.js'
import type { CookieMap } from './cookies.js'
import { SessionCodec, failure, nowSeconds, type Decoded } from './codec.js'

export interface SessionCookieOptions extends CookieOptions {
  /** 32-byte keys in base64; the first seals, all open. */
  readonly secrets: readonly string[]
}

export interface WriteOptions {
  /** Seconds; default the wall clock. */
  readonly now?: number
  /** Keep this absolute end (seconds), e.g. the one decode returned; default now + lifetime. */
  readonly expiresAt?: number
}

export class SessionCookie<P extends object = Record<string, unknown>> {
  readonly cookie: ChunkedCookie
  private readonly codec: SessionCodec

  constructor(options: SessionCookieOptions) {
    this.cookie = new ChunkedCookie(options)
    this.codec = new SessionCodec({
      secrets: options.secrets,
      lifetimeSeconds: options.lifetimeSeconds,
      maxLength: this.cookie.maxValueLength,
    })
  }

  get name(): string {
    return this.cookie.name
  }

  read(cookies: CookieMap, now: number = nowSeconds()): Decoded<P> {
    const joined = this.cookie.read(cookies)
    if (joined.value === undefined) return failure(joined.reason)
    return this.codec.decode<P>(this.cookie.name, joined.value, now)
  }

  /**
   * Set-Cookie values that store `payload` (undefined: sign out), expiring chunks the
   * browser sent that the new value no longer uses. A session whose expiresAt has
   * already passed is cleared rather than written. Throws GH_ERR_SESSION_TOO_LARGE when
   * the sealed payload needs more than the allowed chunks.
   */
  write(payload: P | undefined, cookies: CookieMap | Iterable<string>, options: WriteOptions = {}): string[] {
    const sent = isIterable(cookies) ? cookies : Object.keys(cookies)
    if (payload === undefined) return this.cookie.write(undefined, sent)
    const now = Math.floor(options.now ?? nowSeconds())
    const exp = Math.floor(options.expiresAt ?? now + this.cookie.lifetimeSeconds)
    if (exp <= now) return this.cookie.write(undefined, sent)
    const token = this.codec.encode(this.cookie.name, payload, { now, expiresAt: exp })
    return this.cookie.write(token, sent, exp - now)
  }
}

function isIterable(value: CookieMap | Iterable<string>): value is Iterable<string> {
  return typeof (value as Partial<Iterable<string>>)[Symbol.iterator] === 'function'
}

/** The session cookie as configured, and its variant for plain http on loopback (tests,
 *  the demo): a store writes one or the other, as the request's origin allows. */
export interface SessionCookies<P extends object> {
  readonly secure: SessionCookie<P>
  readonly loopback: SessionCookie<P>
}

export function sessionCookies<P extends object>(settings: SessionSettings, maxChunks?: number): SessionCookies<P> {
  const common = {
    name: settings.cookieName,
    secrets: settings.secrets,
    lifetimeSeconds: settings.lifetimeSeconds,
    sameSite: settings.sameSite,
    domain: settings.domain,
    ...(maxChunks === undefined ? {} : { maxChunks }),
  }
  const secure = new SessionCookie<P>(common)
  // Browsers drop SameSite=None cookies without Secure, so on plain http it becomes Lax.
  // A prefixed name (__Host-, __Secure-) must keep Secure everywhere; browsers accept
  // Secure cookies from http://localhost, which they count as a secure context.
  const loopback = cookiePrefix(settings.cookieName)
    ? secure
    : new SessionCookie<P>({ ...common, httpLoopback: true, sameSite: settings.sameSite === 'none' ? 'lax' : settings.sameSite })
  return { secure, loopback }
}
