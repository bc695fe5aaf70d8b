// What a session is, and the interface every place that keeps sessions implements. The
// cookie store keeps the whole session in the browser; a server-side store (Redis) keeps
// an opaque ticket there and the session on the server. Callers see only this interface,
// and one contract suite (test/session/store.contract.ts) holds every store to it.

import { randomBytes } from 'node:crypto'
import { prepareUser, type PreparedUser } from '../policy/index.js'
import type { CookieMap } from './cookies.js'

/** What a session holds. Tokens stay inside it and are never shown to users. It is also
 *  the identity an assertion is signed for (sub, user, email, groups, name, sid). */
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
  /** When to renew the access token (seconds since the epoch); absent: never. */
  readonly refreshAt?: number
  /** The IdP's own session id (the ID token's `sid`), for back-channel logout. */
  readonly idpSid?: string
  /** When the user signed in (seconds, with a fraction): revocations of the user since
   *  then cover it. */
  readonly signedInAt?: number
}

export interface Session {
  readonly data: SessionData
  /** The user as policies see it, prepared once per session rather than per request. */
  readonly user: PreparedUser
  /** Absolute end, seconds since the epoch. */
  readonly exp: number
}

/** A session, or why there is none: 'none' (no session cookie), 'invalid' (a cookie that
 *  does not open: tampered, expired, revoked, an old key; the caller clears it). */
export type SessionLookup = Session | 'none' | 'invalid'

export interface SaveOptions {
  /** The origin is plain http on loopback: cookies go without Secure. */
  readonly httpLoopback: boolean
  /** Keep this absolute end (seconds), as a refresh does; default now + lifetime. */
  readonly expiresAt?: number
}

/** Held while a session is refreshed; release() lets the next holder in. */
export interface SessionLock {
  release(): void
}

/** A store may answer synchronously when it can (the cookie store always can, a
 *  server-side store from its short cache): the request path then awaits nothing. */
export type MaybePromise<T> = T | Promise<T>

export interface SessionStore {
  /** The session the request's cookies carry or name. */
  get(cookies: CookieMap): MaybePromise<SessionLookup>
  /** Stores `data`; returns the Set-Cookie values that carry it (or its ticket). */
  set(data: SessionData, cookies: CookieMap, options: SaveOptions): MaybePromise<string[]>
  /** Ends the session the cookies carry; returns the Set-Cookie values that clear it. */
  delete(cookies: CookieMap, options: SaveOptions): MaybePromise<string[]>
  /** Ends every session of a user at an IdP, or of one of the IdP's own sessions
   *  (back-channel logout), wherever it is used. */
  revokeMatching(match: { readonly idp: string; readonly sub?: string; readonly idpSid?: string }): Promise<void>
  /** True the first time `key` is claimed within `ttlSeconds`, false after: a replay
   *  cache (logout tokens' jti), fleet-wide where the store is. */
  claimOnce(key: string, ttlSeconds: number): Promise<boolean>
  /** Keeps `value` for `ttlSeconds` under a fresh unguessable code (a sign-in handoff
   *  from the authenticate host to a route host, on any replica where the store is shared). */
  stash(value: string, ttlSeconds: number): Promise<string>
  /** The stashed value, once: the code is spent by reading it. */
  unstash(code: string): Promise<string | undefined>
  /** Exclusive access to one session (for a refresh): resolves when the lock is held.
   *  A holder that never releases is overtaken after the store's lock timeout. */
  lock(sid: string): Promise<SessionLock>
  /** Undefined when the store can serve, else why not (for /readyz). */
  problem(): string | undefined
  close(): Promise<void>
}

export const newSessionId = () => randomBytes(16).toString('base64url')
/** A one-time code: 32 random bytes. */
export const newCode = () => randomBytes(32).toString('base64url')

/** Whether a payload that opened with our keys has the shape of session data (a ticket
 *  of the Redis store, written under the same cookie name, does not). */
export function isSessionData(payload: unknown): payload is SessionData {
  const d = payload as Partial<SessionData> | undefined
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.sid === 'string' &&
    typeof d.idp === 'string' &&
    typeof d.sub === 'string' &&
    typeof d.user === 'string' &&
    Array.isArray(d.groups) &&
    typeof d.claims === 'object' &&
    d.claims !== null
  )
}

/** The in-memory form of session data: its user prepared for policies. */
export function sessionOf(data: SessionData, exp: number): Session {
  return { data, exp, user: prepareUser({ id: data.sub, email: data.email, groups: data.groups, claims: data.claims }) }
}

export const isPromise = <T>(value: MaybePromise<T>): value is Promise<T> => typeof (value as Promise<T> | undefined)?.then === 'function'
