// OpenID Connect Back-Channel Logout 1.0: the IdP tells Gatehouse, server to server,
// that a user's session ended there, and Gatehouse ends the matching sessions wherever
// they are used (every replica with the Redis store, open websockets included).
//
// The logout token is a JWT from the IdP, checked as the spec lists (2.6): signature
// and alg, iss, aud, iat, the backchannel-logout event, a sub or sid, no nonce, and a
// jti never seen before (replays are refused).

import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatehouseError } from '../errors.js'
import { replyError } from '../http/answers.js'
import { BACKCHANNEL_LOGOUT_PATH } from '../http/endpoints.js'
import { readForm } from '../http/form.js'
import type { SessionStore } from '../session/store.js'
import type { IdentityProvider } from './providers.js'
import type { ProviderRegistry } from './registry.js'

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** Logout tokens are sent the moment the IdP session ends; an old one is a replay. */
const MAX_TOKEN_AGE_SECONDS = 600
const CLOCK_SKEW_SECONDS = 60
const MAX_BODY_BYTES = 64 * 1024
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

export interface BackchannelDeps {
  runtime(): { readonly sessions: SessionStore }
  readonly providers: ProviderRegistry
}

const refuse = (detail: string) => new GatehouseError('GH_ERR_LOGOUT_TOKEN', detail)

/** The logout request's form: urlencoded, as the spec says, and small. */
async function logoutForm(request: FastifyRequest): Promise<URLSearchParams> {
  const type = String(request.headers['content-type'] ?? '')
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) throw refuse('the body must be application/x-www-form-urlencoded')
  const form = await readForm(request.raw, MAX_BODY_BYTES)
  if (form === undefined) throw refuse('the body is too large')
  return form
}

/** The IdP a token comes from: the one named in the path or query, else the one whose
 *  issuer the (not yet verified) token names; verification then proves it. */
function providerFor(deps: BackchannelDeps, request: FastifyRequest, token: string): IdentityProvider {
  const named = (request.params as { idp?: string }).idp ?? (request.query as { idp?: unknown }).idp
  if (typeof named === 'string') {
    const provider = deps.providers.get(named)
    if (!provider) throw refuse(`no identity provider has the id ${JSON.stringify(named.slice(0, 64))}`)
    return provider
  }
  let iss: unknown
  try {
    iss = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { iss?: unknown }).iss
  } catch {
    throw refuse('the logout token is not a JWT')
  }
  const provider = deps.providers.list().find((p) => p.ready && p.config.serverMetadata().issuer === iss)
  if (!provider) throw refuse('no configured identity provider issued this logout token')
  return provider
}

/** Key sets per JWKS URL; jose refetches on an unknown kid, rate-limited. */
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

async function verifyLogoutToken(provider: IdentityProvider, token: string): Promise<JWTPayload> {
  if (!provider.ready) throw new GatehouseError('GH_ERR_IDP_UNAVAILABLE', `${provider.settings.name} is not reachable yet`)
  const server = provider.config.serverMetadata()
  const alg = provider.settings.idTokenAlg
  const hmac = alg?.startsWith('HS') === true
  const options = {
    issuer: server.issuer,
    audience: provider.settings.clientId,
    algorithms: alg ? [alg] : ASYMMETRIC,
    clockTolerance: CLOCK_SKEW_SECONDS,
    maxTokenAge: MAX_TOKEN_AGE_SECONDS,
    requiredClaims: ['iat', 'jti', 'events'],
  }
  try {
    if (hmac) return (await jwtVerify(token, new TextEncoder().encode(provider.settings.clientSecret ?? ''), options)).payload
    if (!server.jwks_uri) throw refuse('the identity provider publishes no keys (jwks_uri)')
    let keys = keySets.get(server.jwks_uri)
    if (!keys) keySets.set(server.jwks_uri, (keys = createRemoteJWKSet(new URL(server.jwks_uri))))
    return (await jwtVerify(token, keys, options)).payload
  } catch (err) {
    if (err instanceof GatehouseError) throw err
    throw new GatehouseError('GH_ERR_LOGOUT_TOKEN', `the logout token did not pass the checks (${(err as { code?: string }).code ?? (err as Error).name})`, {
      cause: err,
    })
  }
}

/** What the spec requires beyond a valid JWT. */
function checkLogoutClaims(payload: JWTPayload): { sub?: string; sid?: string } {
  const events = payload.events as Record<string, unknown> | undefined
  const event = events && typeof events === 'object' ? events[LOGOUT_EVENT] : undefined
  if (event === null || typeof event !== 'object' || Array.isArray(event)) throw refuse(`the events claim lacks ${LOGOUT_EVENT}`)
  // A nonce would make it an ID token, which must never be accepted as a logout token.
  if ('nonce' in payload) throw refuse('a logout token must not contain a nonce')
  if (typeof payload.iat !== 'number' || payload.iat > Math.floor(Date.now() / 1000) + CLOCK_SKEW_SECONDS) throw refuse('iat is missing or in the future')
  const sub = typeof payload.sub === 'string' ? payload.sub : undefined
  const sid = typeof payload.sid === 'string' ? payload.sid : undefined
  if (sub === undefined && sid === undefined) throw refuse('a logout token names a sub or a sid')
  return { sub, sid }
}

export function registerBackchannelLogout(app: FastifyInstance, deps: BackchannelDeps): void {
  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const token = (await logoutForm(request)).get('logout_token')
      if (!token) throw refuse('the body carries no logout_token')
      const provider = providerFor(deps, request, token)
      const payload = await verifyLogoutToken(provider, token)
      const { sub, sid } = checkLogoutClaims(payload)
      const { sessions } = deps.runtime()
      // Each token is honoured once: a captured one replayed later changes nothing.
      if (!(await sessions.claimOnce(`logout-jti ${payload.iss} ${String(payload.jti)}`, MAX_TOKEN_AGE_SECONDS + CLOCK_SKEW_SECONDS))) {
        throw refuse('this logout token was already used')
      }
      // With a sid, the IdP ended that one session of its own; with only a sub, all of
      // the user's sessions there.
      await sessions.revokeMatching(sid !== undefined ? { idp: provider.settings.id, idpSid: sid } : { idp: provider.settings.id, sub })
      request.log.info({ idp: provider.settings.id, sub, sid }, 'back-channel logout')
      return reply.code(200).header('cache-control', 'no-store').send('')
    } catch (err) {
      const failure = err instanceof GatehouseError ? err : new GatehouseError('GH_ERR_LOGOUT_TOKEN', 'the logout request could not be read', { cause: err })
      request.log.warn({ err: { code: failure.code, message: failure.message } }, 'back-channel logout refused')
      return replyError(reply, failure.code, { detail: failure.message, html: false })
    }
  }
  app.post(BACKCHANNEL_LOGOUT_PATH, handle)
  app.post(`${BACKCHANNEL_LOGOUT_PATH}/:idp`, handle)
}
