// Sessions kept in encrypted cookies: what a signed-in user carries, read once per
// request (decrypted once per session value, then cached) and written at sign-in.

import type { IncomingMessage } from 'node:http'
import { randomBytes } from 'node:crypto'
import type { SessionSettings } from '../config/compile-auth.js'
import { prepareUser, type PreparedUser } from '../policy/index.js'
import type { IdentityClaims } from '../identity/signer.js'
import type { CookieMap } from './chunks.js'
import { nowSeconds } from './codec.js'
import { SessionCookie } from './cookie.js'

/** What the session cookie holds. Tokens stay inside it and are never shown to users. */
export interface SessionData {
  readonly sid: string
  readonly idp: string
  readonly sub: string
  readonly user: string
  readonly email?: string
  readonly name?: string
  readonly groups: readonly string[]
  /** ID token and userinfo claims, merged, for claim/NAME policies. */
  readonly claims: Readonly<Record<string, unknown>>
  readonly idToken?: string
  readonly accessToken?: string
  readonly refreshToken?: string
  /** Seconds since the epoch. */
  readonly accessExpiresAt?: number
}

export interface Session {
  readonly data: SessionData
  readonly user: PreparedUser
  readonly identity: IdentityClaims
  /** Absolute end, seconds since the epoch. */
  readonly exp: number
}

const CACHE_LIMIT = 10_000

export const newSessionId = () => randomBytes(16).toString('base64url')

/** Parses a Cookie header; the first of several same-named cookies wins, as in browsers' order. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (!header) return out
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    const name = part.slice(0, eq).trim()
    if (name && !(name in out)) out[name] = part.slice(eq + 1).trim()
  }
  return out
}

/**
 * Where sessions live. The cookie store keeps everything in the browser; a server-side
 * store (Redis) would keep only an id there and the data on the server, making
 * sessions revocable. Callers see only this interface.
 */
export interface SessionStore {
  /** The request's session, or undefined when there is none or it does not open. */
  read(cookies: CookieMap, now?: number): Session | undefined
  /** Whether the request carries a session cookie at all (valid or not). */
  present(cookies: CookieMap): boolean
  /** Set-Cookie values that store `data` (undefined: end the session), keeping `expiresAt`. */
  write(data: SessionData | undefined, cookies: CookieMap, httpLoopback: boolean, expiresAt?: number): string[]
  /** The in-memory form of session data (after a refresh). */
  fromData(data: SessionData, exp: number): Session
}

export class CookieSessions implements SessionStore {
  /** Secure cookies, and the variant for plain http on loopback (tests, the demo). */
  private readonly secure: SessionCookie<SessionData>
  private readonly loopback: SessionCookie<SessionData>
  private readonly cache = new Map<string, Session>()

  constructor(readonly settings: SessionSettings) {
    const common = { name: settings.cookieName, secrets: settings.secrets, lifetimeSeconds: settings.lifetimeSeconds, sameSite: settings.sameSite, domain: settings.domain }
    this.secure = new SessionCookie<SessionData>(common)
    // Browsers drop SameSite=None cookies without Secure, so on plain http it becomes Lax.
    this.loopback = new SessionCookie<SessionData>({ ...common, httpLoopback: true, sameSite: settings.sameSite === 'none' ? 'lax' : settings.sameSite })
  }

  /** The request's session, or undefined (absent, tampered, expired: all mean none). */
  read(cookies: CookieMap, now = nowSeconds()): Session | undefined {
    const joined = this.secure.cookie.read(cookies)
    if (joined.value === undefined) return undefined
    const cached = this.cache.get(joined.value)
    if (cached) {
      if (cached.exp > now) return cached
      this.cache.delete(joined.value)
      return undefined
    }
    const decoded = this.secure.read(cookies, now)
    if (decoded.payload === undefined) return undefined
    const session = this.fromData(decoded.payload, decoded.exp)
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(joined.value, session)
    return session
  }

  /** The in-memory form of a session: its user prepared for policies, its identity. */
  fromData(data: SessionData, exp: number): Session {
    return {
      data,
      exp,
      user: prepareUser({ id: data.sub, email: data.email, groups: data.groups, claims: data.claims }),
      identity: { sub: data.sub, user: data.user, email: data.email, groups: data.groups, name: data.name, sid: data.sid },
    }
  }

  /** Whether the request carries a session cookie at all (valid or not). */
  present(cookies: CookieMap): boolean {
    return cookies[this.settings.cookieName] !== undefined
  }

  /** Set-Cookie values for a new session (or, with undefined, for signing out). */
  write(data: SessionData | undefined, cookies: CookieMap, httpLoopback: boolean, expiresAt?: number): string[] {
    return (httpLoopback ? this.loopback : this.secure).write(data, cookies, { expiresAt })
  }
}

export const requestCookies = (req: IncomingMessage) => parseCookies(req.headers.cookie)
