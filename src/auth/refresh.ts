// Access tokens are renewed shortly before they expire, when the IdP gave a refresh
// token. A refresh that fails ends the session: the IdP no longer vouches for the user.
// A refresh also maps the user again from the new claims, so a group the IdP removed
// stops granting access at the next refresh, not at the next sign-in.

import type { FastifyBaseLogger } from 'fastify'
import * as oidc from 'openid-client'
import type { CookieMap } from '../session/cookies.js'
import { isPromise, sessionOf, type Session, type SessionData, type SessionStore } from '../session/store.js'
import { mapClaims } from './claims.js'
import { translateOidcError } from './oidc-errors.js'
import type { ProviderRegistry } from './registry.js'

/** Renew when less than this is left, so upstreams never get an expiring token. */
const REFRESH_BEFORE_SECONDS = 30

/** When to renew a token that lives `lifetime` seconds from `now`: 30 s before it ends,
 *  or halfway for tokens shorter than a minute, so a short-lived token is not renewed
 *  on every request. */
export function refreshTime(now: number, lifetime: number | undefined): number | undefined {
  if (lifetime === undefined) return undefined
  return now + Math.max(lifetime - REFRESH_BEFORE_SECONDS, Math.ceil(lifetime / 2))
}

export const needsRefresh = (session: Session, now = Math.floor(Date.now() / 1000)): boolean =>
  session.data.refreshToken !== undefined && session.data.refreshAt !== undefined && session.data.refreshAt <= now

export interface Refreshed {
  /** The session to go on with; undefined when it ended. */
  readonly session: Session | undefined
  /** Set-Cookie values that carry the refreshed session, or clear the ended one. */
  readonly setCookies: readonly string[]
}

export interface RefreshContext {
  readonly store: SessionStore
  readonly providers: ProviderRegistry
  readonly cookies: CookieMap
  readonly httpLoopback: boolean
  readonly log: FastifyBaseLogger
}

/** One refresh per session at a time in this process: parallel requests (several tabs)
 *  share it instead of racing, which IdPs that rotate refresh tokens punish by revoking
 *  the session. Across processes the store's lock does the same. */
const inFlight = new Map<string, Promise<SessionData | undefined>>()

type SaveOptions = Parameters<SessionStore['set']>[2]

export async function refreshSession(session: Session, ctx: RefreshContext): Promise<Refreshed> {
  const { sid } = session.data
  const options = { httpLoopback: ctx.httpLoopback, expiresAt: session.exp }
  const running = inFlight.get(sid)
  if (running === undefined) {
    const renewing = renew(session, ctx, options).finally(() => inFlight.delete(sid))
    inFlight.set(
      sid,
      renewing.then((r) => r.data),
    )
    const { data, setCookies } = await renewing
    return { session: data === undefined ? undefined : data === session.data ? session : sessionOf(data, session.exp), setCookies }
  }
  // The refresh this request waited for is stored already: only this answer's cookies
  // are left to write.
  const data = await running
  if (data === undefined) return { session: undefined, setCookies: await ctx.store.delete(ctx.cookies, options) }
  if (data === session.data) return { session, setCookies: [] }
  return { session: sessionOf(data, session.exp), setCookies: await ctx.store.set(data, ctx.cookies, options) }
}

/** Refreshes under the store's lock, and stores the outcome before the lock is let go:
 *  whoever takes it next, in this process or another, reads the refreshed session
 *  instead of refreshing again with a refresh token the IdP may have rotated. */
async function renew(session: Session, ctx: RefreshContext, options: SaveOptions): Promise<{ data: SessionData | undefined; setCookies: string[] }> {
  const lock = await ctx.store.lock(session.data.sid)
  try {
    const data = await renewed(session, ctx)
    if (data === undefined) return { data, setCookies: await ctx.store.delete(ctx.cookies, options) }
    if (data === session.data) return { data, setCookies: [] }
    return { data, setCookies: await ctx.store.set(data, ctx.cookies, options) }
  } finally {
    lock.release()
  }
}

/** The refreshed data, the same data when nothing was done, or undefined to end it. */
async function renewed(session: Session, ctx: RefreshContext): Promise<SessionData | undefined> {
  // Another replica or tab may have refreshed while this one waited for the lock.
  const current = ctx.store.get(ctx.cookies)
  const latest = isPromise(current) ? await current : current
  if (typeof latest !== 'string' && latest.data.sid === session.data.sid && !needsRefresh(latest)) return latest.data
  const { data } = session
  const provider = ctx.providers.get(data.idp)
  // The IdP is unreachable right now: keep the session and try again later.
  if (!provider?.ready) return data
  try {
    const tokens = await provider.withKeyRefetch((config) => oidc.refreshTokenGrant(config, data.refreshToken!))
    provider.checkIdToken(tokens.id_token)
    const idClaims = tokens.claims()
    // A new ID token must be about the same user.
    if (idClaims && idClaims.sub !== data.sub) throw new Error('the refreshed ID token names another subject')
    const claims = idClaims ? { ...data.claims, ...idClaims } : data.claims
    const mapped = mapClaims(provider.settings, claims)
    const now = Math.floor(Date.now() / 1000)
    ctx.log.info({ event: 'refresh', idp: data.idp, user: mapped.user, sid: data.sid }, 'session refreshed')
    return {
      ...data,
      user: mapped.user,
      email: mapped.email,
      name: mapped.name,
      groups: mapped.groups,
      claims,
      idToken: tokens.id_token ?? data.idToken,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? data.refreshToken,
      accessExpiresAt: tokens.expires_in === undefined ? undefined : now + tokens.expires_in,
      refreshAt: refreshTime(now, tokens.expires_in),
    }
  } catch (err) {
    const failure = translateOidcError(err)
    ctx.log.info(
      {
        event: 'refresh_failed',
        idp: data.idp,
        user: data.user,
        sid: data.sid,
        err: { code: failure.code, reason: failure.reason, message: failure.message },
      },
      'refresh failed; the session ends',
    )
    return undefined
  }
}
