// Access tokens are renewed shortly before they expire, when the IdP gave a refresh
// token. A refresh that fails ends the session: the IdP no longer vouches for the user.

import type { FastifyBaseLogger } from 'fastify'
import * as oidc from 'openid-client'
import type { Session, SessionData } from '../session/store.js'
import type { ProviderRegistry } from './registry.js'

/** Renew when less than this is left, so upstreams never get an expiring token. */
const REFRESH_BEFORE_SECONDS = 30

export const needsRefresh = (session: Session, now = Math.floor(Date.now() / 1000)): boolean =>
  session.data.refreshToken !== undefined && session.data.accessExpiresAt !== undefined && session.data.accessExpiresAt - now < REFRESH_BEFORE_SECONDS

export type RefreshOutcome = { ok: true; data: SessionData } | { ok: false }

/** One refresh per session at a time in this process: parallel requests (several tabs)
 *  share it instead of racing, which IdPs that rotate refresh tokens would punish by
 *  revoking the session. */
const inFlight = new Map<string, Promise<RefreshOutcome>>()

export function refreshSession(session: Session, providers: ProviderRegistry, log: FastifyBaseLogger): Promise<RefreshOutcome> {
  const { data } = session
  const pending = inFlight.get(data.sid)
  if (pending) return pending
  const run = (async (): Promise<RefreshOutcome> => {
    const provider = providers.get(data.idp)
    if (!provider?.ready) return { ok: true, data } // keep the session; try again later
    try {
      const tokens = await oidc.refreshTokenGrant(provider.config, data.refreshToken!)
      const idClaims = tokens.claims()
      // A new ID token must be about the same user.
      if (idClaims && idClaims.sub !== data.sub) throw new Error('the refreshed ID token names another subject')
      return {
        ok: true,
        data: {
          ...data,
          claims: idClaims ? { ...data.claims, ...idClaims } : data.claims,
          idToken: tokens.id_token ?? data.idToken,
          accessToken: tokens.access_token,
          refreshToken: tokens.refresh_token ?? data.refreshToken,
          accessExpiresAt: tokens.expires_in === undefined ? undefined : Math.floor(Date.now() / 1000) + tokens.expires_in,
        },
      }
    } catch (err) {
      log.info({ idp: data.idp, sid: data.sid, err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'refresh failed; the session ends')
      return { ok: false }
    } finally {
      inFlight.delete(data.sid)
    }
  })()
  inFlight.set(data.sid, run)
  return run
}
