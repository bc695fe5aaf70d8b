// The cookie store: the whole session, sealed (AES-256-GCM), in the browser's cookies.
// Nothing is kept on the server but caches, so any replica with the same secrets reads
// any session; the price is that a copied cookie stays valid until it expires.

import type { SessionSettings } from '../config/compile-auth.js'
import { nowSeconds } from './codec.js'
import { sessionCookies, type SessionCookie } from './cookie.js'
import type { CookieMap } from './cookies.js'
import { LocalLocks, OnceKeys, Stash } from './lock.js'
import { Revocations } from './revocations.js'
import { isSessionData, sessionOf, type SaveOptions, type Session, type SessionData, type SessionLock, type SessionLookup, type SessionStore } from './store.js'

/** Decrypting costs about 10 µs: each distinct cookie value is opened once, then cached. */
const CACHE_LIMIT = 10_000
/** After a refresh, requests that still carry the older cookie (sent before the browser
 *  got the new one) are served the refreshed session for this long, instead of
 *  refreshing again with a refresh token the IdP may already have rotated. */
const REFRESHED_SHARE_SECONDS = 60
const LOCK_TIMEOUT_MS = 15_000

export class CookieSessionStore implements SessionStore {
  /** Secure cookies, and the variant for plain http on loopback (tests, the demo). */
  private readonly secure: SessionCookie<SessionData>
  private readonly loopback: SessionCookie<SessionData>
  private readonly cache = new Map<string, Session>()
  private readonly refreshed = new Map<string, { session: Session; until: number }>()
  private readonly locks = new LocalLocks(LOCK_TIMEOUT_MS)
  private readonly claims = new OnceKeys()
  /** In this process: replicas that hand sessions over need the Redis store. */
  private readonly stashed = new Stash()

  constructor(
    readonly settings: SessionSettings,
    private readonly revocations: Revocations = new Revocations(),
  ) {
    const cookies = sessionCookies<SessionData>(settings)
    this.secure = cookies.secure
    this.loopback = cookies.loopback
  }

  get(cookies: CookieMap, now = nowSeconds()): SessionLookup {
    const joined = this.secure.cookie.read(cookies)
    if (joined.value === undefined) return joined.reason === 'absent' ? 'none' : 'invalid'
    let session = this.cache.get(joined.value)
    if (session === undefined) {
      const decoded = this.secure.read(cookies, now)
      if (decoded.reason !== undefined || !isSessionData(decoded.payload)) return 'invalid'
      session = sessionOf(decoded.payload, decoded.exp)
      if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
      this.cache.set(joined.value, session)
    } else if (session.exp <= now) {
      this.cache.delete(joined.value)
      return 'invalid'
    }
    // A signed-out session stays out, whichever copy of its cookie comes back.
    if (this.revocations.isRevoked(session.data)) return 'invalid'
    if (this.refreshed.size > 0) {
      const newer = this.refreshed.get(session.data.sid)
      if (newer !== undefined && newer.until > now) return newer.session
    }
    return session
  }

  set(data: SessionData, cookies: CookieMap, options: SaveOptions): string[] {
    const written = (options.httpLoopback ? this.loopback : this.secure).write(data, cookies, { expiresAt: options.expiresAt })
    // A save that keeps an earlier end is a refresh of a live session: share it.
    if (options.expiresAt !== undefined) {
      const now = nowSeconds()
      for (const [sid, entry] of this.refreshed) if (entry.until <= now) this.refreshed.delete(sid)
      this.refreshed.set(data.sid, { session: sessionOf(data, options.expiresAt), until: now + REFRESHED_SHARE_SECONDS })
    }
    return written
  }

  delete(cookies: CookieMap, options: SaveOptions): string[] {
    const ending = this.get(cookies)
    if (typeof ending === 'object') {
      this.refreshed.delete(ending.data.sid)
      this.revocations.revoke({ sid: ending.data.sid }, ending.exp)
    }
    return (options.httpLoopback ? this.loopback : this.secure).write(undefined, cookies)
  }

  /** Sessions live in browsers, where they cannot be found: the user (or IdP session) is
   *  remembered as revoked for as long as any of its sessions could live. */
  async revokeMatching(match: { readonly idp: string; readonly sub?: string; readonly idpSid?: string }): Promise<void> {
    const until = nowSeconds() + this.settings.lifetimeSeconds
    if (match.idpSid !== undefined) this.revocations.revoke({ idp: match.idp, idpSid: match.idpSid }, until)
    if (match.sub !== undefined) this.revocations.revoke({ idp: match.idp, sub: match.sub }, until)
  }

  async stash(value: string, ttlSeconds: number): Promise<string> {
    return this.stashed.put(value, ttlSeconds)
  }

  async unstash(code: string): Promise<string | undefined> {
    return this.stashed.take(code)
  }

  async claimOnce(key: string, ttlSeconds: number): Promise<boolean> {
    return this.claims.claim(key, ttlSeconds)
  }

  lock(sid: string): Promise<SessionLock> {
    return this.locks.acquire(sid)
  }

  problem(): string | undefined {
    return undefined
  }

  async close(): Promise<void> {
    this.cache.clear()
    this.refreshed.clear()
  }
}
