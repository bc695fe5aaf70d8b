// The cookie store: the whole session, sealed (AES-256-GCM), in the browser's cookies.
// Nothing is kept on the server but caches, so any replica with the same secrets reads
// any session; the price is that a copied cookie stays valid until it expires.

import type { SessionSettings } from '../config/compile-auth.js'
import { nowSeconds } from './codec.js'
import { sessionCookies, type SessionCookie } from './cookie.js'
import type { CookieMap } from './cookies.js'
import { Revocations, type RevocationMatch } from './revocations.js'
import { LocalShare, type SessionShare } from './share.js'
import { isSessionData, sessionOf, type SaveOptions, type Session, type SessionData, type SessionLock, type SessionLookup, type SessionStore } from './store.js'

/** Decrypting costs about 10 µs: each distinct cookie value is opened once, then cached. */
const CACHE_LIMIT = 10_000
/** After a refresh, requests that still carry the older cookie (sent before the browser
 *  got the new one) are served the refreshed session for this long, instead of
 *  refreshing again with a refresh token the IdP may already have rotated. */
const REFRESHED_SHARE_SECONDS = 60

export class CookieSessionStore implements SessionStore {
  /** Secure cookies, and the variant for plain http on loopback (tests, the demo). */
  private readonly secure: SessionCookie<SessionData>
  private readonly loopback: SessionCookie<SessionData>
  private readonly cache = new Map<string, Session>()
  private readonly refreshed = new Map<string, { session: Session; until: number }>()
  private readonly stopListening: () => void

  /** `share` reaches the other workers of this run; replicas on other machines that hand
   *  sessions over need the Redis store. */
  constructor(
    readonly settings: SessionSettings,
    private readonly revocations: Revocations = new Revocations(),
    private readonly share: SessionShare = new LocalShare(),
  ) {
    const cookies = sessionCookies<SessionData>(settings)
    this.secure = cookies.secure
    this.loopback = cookies.loopback
    this.stopListening = share.listen({
      revoked: (match, until) => this.revocations.revoke(match, until),
      refreshed: (data, exp) => this.keepRefreshed(data, exp),
    })
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
    // A save that keeps an earlier end is a refresh of a live session: share it, with
    // the other workers too (they hear it before this refresh's lock is released).
    if (options.expiresAt !== undefined) {
      this.keepRefreshed(data, options.expiresAt)
      this.share.announce({ refreshed: [data, options.expiresAt] })
    }
    return written
  }

  private keepRefreshed(data: SessionData, exp: number): void {
    const now = nowSeconds()
    for (const [sid, entry] of this.refreshed) if (entry.until <= now) this.refreshed.delete(sid)
    this.refreshed.set(data.sid, { session: sessionOf(data, exp), until: now + REFRESHED_SHARE_SECONDS })
  }

  delete(cookies: CookieMap, options: SaveOptions): string[] {
    const ending = this.get(cookies)
    if (typeof ending === 'object') {
      this.refreshed.delete(ending.data.sid)
      this.revoke({ sid: ending.data.sid }, ending.exp)
    }
    return (options.httpLoopback ? this.loopback : this.secure).write(undefined, cookies)
  }

  /** Sessions live in browsers, where they cannot be found: the user (or IdP session) is
   *  remembered as revoked for as long as any of its sessions could live. */
  async revokeMatching(match: { readonly idp: string; readonly sub?: string; readonly idpSid?: string }): Promise<void> {
    const until = nowSeconds() + this.settings.lifetimeSeconds
    if (match.idpSid !== undefined) this.revoke({ idp: match.idp, idpSid: match.idpSid }, until)
    if (match.sub !== undefined) this.revoke({ idp: match.idp, sub: match.sub }, until)
  }

  private revoke(match: RevocationMatch, until: number): void {
    this.revocations.revoke(match, until)
    this.share.announce({ revoked: [match, until] })
  }

  stash(value: string, ttlSeconds: number): Promise<string> {
    return this.share.stash(value, ttlSeconds)
  }

  unstash(code: string): Promise<string | undefined> {
    return this.share.unstash(code)
  }

  claimOnce(key: string, ttlSeconds: number): Promise<boolean> {
    return this.share.claimOnce(key, ttlSeconds)
  }

  lock(sid: string): Promise<SessionLock> {
    return this.share.lock(sid)
  }

  problem(): string | undefined {
    return undefined
  }

  async close(): Promise<void> {
    this.stopListening()
    this.cache.clear()
    this.refreshed.clear()
  }
}
