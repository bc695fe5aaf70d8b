// Sign-in (authorization code flow with PKCE, state and nonce), the callback, sign-out
// and "who am I", served on every route host.

import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import * as oidc from 'openid-client'
import type { Config } from '../config/compile.js'
import { GatehouseError, type ErrorCode } from '../errors.js'
import { replyError, type ErrorContext } from '../http/answers.js'
import { CALLBACK_PATH, SIGN_IN_PATH } from '../http/endpoints.js'
import { isHttpLoopback } from '../http/loopback.js'
import { requestOrigin } from '../http/request.js'
import { queryParam } from '../http/same-site.js'
import type { SessionCookie } from '../session/cookie.js'
import { helperCookie } from './helper-cookie.js'
import { parseCookies } from '../session/cookies.js'
import { newSessionId, type SessionData } from '../session/store.js'
import { mapClaims } from './claims.js'
import { OidcFailure, translateOidcError } from './oidc-errors.js'
import { chooserPage } from './pages.js'
import { LOCAL_IDP_ID } from './local-accounts.js'
import { localAccountsForm } from './local-sign-in.js'
import type { AuthDeps } from './deps.js'
import { signedOutLocally, signedOutMarker } from './sign-out.js'
import { refreshTime } from './refresh.js'
import { handOff, sendToAuthenticateHost } from './handoff.js'
import { isRouteOrigin, safeRedirect } from './redirect.js'

/** Tolerated difference between our clock and the IdP's. */
const CLOCK_SKEW_SECONDS = 60
/** A sign-in must finish within this; the transaction cookie dies with it. */
const TRANSACTION_SECONDS = 600
/** Unfinished sign-ins a browser may hold at once (tabs). Each is a cookie of up to one
 *  chunk; without a bound, an attacker (or a user with many tabs) could grow the Cookie
 *  header until every request is refused with 431. Starting one more clears the others. */
const MAX_PENDING_SIGN_INS = 3

interface Transaction {
  readonly idp: string
  readonly state: string
  readonly nonce: string
  readonly verifier?: string
  readonly rd: string
  /** With authenticate_url: the route host's binding hash, for the handoff. */
  readonly hb?: string
}

const random = () => randomBytes(24).toString('base64url')

/** Each sign-in has its own cookie, named after its state, so sign-ins started in
 *  several tabs at once do not overwrite each other. */
function transactionCookie(config: Config, state: string, origin: string): SessionCookie<Transaction> {
  return helperCookie<Transaction>(config, `${transactionPrefix(config)}${state.slice(0, 16).replace(/[^A-Za-z0-9]/g, 'x')}`, TRANSACTION_SECONDS, origin)
}

const transactionPrefix = (config: Config) => `${config.session.cookieName}_tx_`

/** Set-Cookie values that clear the browser's unfinished sign-ins once it holds as many
 *  as allowed, to make room for the one starting now. */
function makeRoomForSignIn(config: Config, jar: Record<string, string>, origin: string): string[] {
  const prefix = transactionPrefix(config)
  const pending = Object.keys(jar).filter((name) => name.startsWith(prefix))
  if (pending.length < MAX_PENDING_SIGN_INS) return []
  return pending.flatMap((name) => transactionCookie(config, name.slice(prefix.length), origin).write(undefined, [name]))
}

/** An error page that also clears cookies (the sign-in transaction, say), with a link
 *  to try again when a sign-in failed. */
function page(reply: FastifyReply, code: ErrorCode, detail?: string, cookies: string[] = [], context: Omit<ErrorContext, 'detail'> = {}) {
  if (cookies.length > 0) reply.header('set-cookie', cookies)
  return replyError(reply, code, { detail, ...context })
}

/** Starts the same sign-in again: same IdP, same destination. */
const retryOf = (tx: Transaction) => `${SIGN_IN_PATH}?idp=${encodeURIComponent(tx.idp)}&rd=${encodeURIComponent(tx.rd)}`

/** Compares secrets without leaking, through timing, how much of them matched. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function registerAuthRoutes(app: FastifyInstance, deps: AuthDeps): void {
  app.get(SIGN_IN_PATH, async (request, reply) => {
    const { config, sessions } = deps.runtime()
    const origin = requestOrigin(request.raw, config.isTrustedProxy)
    if (!origin) return page(reply, 'GH_ERR_BAD_HOST')
    const central = config.authenticateOrigin
    const onCentral = central !== undefined && origin === central
    // The origin becomes the redirect_uri the IdP is asked to return to: only hosts
    // Gatehouse serves (or the authenticate host) may start a sign-in.
    if (!onCentral && !isRouteOrigin(new URL(origin), config.routes))
      return page(reply, 'GH_ERR_NO_ROUTE', 'no route serves this host, so no sign-in starts here')
    // With authenticate_url, route hosts sign users in through it.
    if (central !== undefined && !onCentral)
      return sendToAuthenticateHost(reply, config, central, origin, new URLSearchParams(request.raw.url!.split('?')[1] ?? ''))
    const rd = safeRedirect(queryParam(request, 'rd'), origin, config.routes) ?? `${origin}/`
    const hb = onCentral ? queryParam(request, 'hb') : undefined
    if (onCentral && new URL(rd).origin !== origin) {
      // Coming back for another route host: without the route host's binding there is
      // nothing to hand over safely.
      if (hb === undefined || !/^[A-Za-z0-9_-]{43}$/.test(hb)) return page(reply, 'GH_ERR_BAD_REQUEST', 'start signing in from the application')
      // Already signed in here: hand the session over without asking the IdP again.
      const found = await sessions.get(parseCookies(request.headers.cookie))
      if (typeof found === 'object' && config.idpIds.has(found.data.idp)) return handOff(reply, deps.runtime(), found, rd, hb)
    }
    const providers = deps.providers.list()
    const local = config.localAccounts !== undefined
    if (providers.length === 0 && !local) return page(reply, 'GH_ERR_NO_IDP')
    const jar = parseCookies(request.headers.cookie)
    // Sign in as someone else (the 403 page), or the first sign-in after signing out
    // while the IdP's own session lives on: the IdP is asked to authenticate again, so
    // the user is not silently signed back in as who they just left.
    const prompt = queryParam(request, 'prompt') === 'login' || signedOutLocally(config, origin, jar) ? ('login' as const) : undefined
    const asked = queryParam(request, 'idp')
    // With local accounts the page is shown even for one IdP: when that IdP is down, the
    // break-glass form must still be reachable.
    const chosen =
      asked ?? providers.find((p) => p.settings.autoLogin)?.settings.id ?? (providers.length === 1 && !local ? providers[0].settings.id : undefined)
    if (chosen === undefined || (chosen === LOCAL_IDP_ID && local)) {
      const options = { rd, prompt, hb }
      const listed = chosen === undefined ? providers.map((p) => p.settings) : []
      return config.pages.send(reply, 200, chooserPage(config.pages, listed, options, local ? localAccountsForm(rd, undefined, { hb }) : ''))
    }
    const provider = deps.providers.get(chosen)
    if (!provider) return page(reply, 'GH_ERR_BAD_REQUEST', `no identity provider has the id ${JSON.stringify(chosen)}`)
    if (!provider.ready) return page(reply, 'GH_ERR_IDP_UNAVAILABLE', `${provider.settings.name} cannot be reached right now; try again in a moment`)
    const tx: Transaction = {
      idp: chosen,
      state: random(),
      nonce: random(),
      ...(provider.settings.pkce ? { verifier: oidc.randomPKCECodeVerifier() } : {}),
      rd,
      ...(hb !== undefined ? { hb } : {}),
    }
    const parameters: Record<string, string> = {
      redirect_uri: `${origin}${deps.providers.redirectPath(provider)}`,
      scope: provider.settings.scopes.join(' '),
      state: tx.state,
      nonce: tx.nonce,
      ...(prompt ? { prompt } : {}),
    }
    if (tx.verifier) {
      parameters.code_challenge = await oidc.calculatePKCECodeChallenge(tx.verifier)
      parameters.code_challenge_method = 'S256'
    }
    const url = oidc.buildAuthorizationUrl(provider.config, parameters)
    const cookies = [...makeRoomForSignIn(config, jar, origin), ...transactionCookie(config, tx.state, origin).write(tx, [])]
    return reply.header('set-cookie', cookies).header('cache-control', 'no-store').redirect(url.href, 302)
  })

  const callback = async (request: FastifyRequest, reply: FastifyReply) => {
    const { config, sessions } = deps.runtime()
    const origin = requestOrigin(request.raw, config.isTrustedProxy)
    if (!origin) return page(reply, 'GH_ERR_BAD_HOST')
    // With authenticate_url, answers from the IdP come back there only.
    if (config.authenticateOrigin !== undefined && origin !== config.authenticateOrigin)
      return page(reply, 'GH_ERR_NO_ROUTE', 'sign-in answers are taken on the authenticate host')
    const state = queryParam(request, 'state')
    if (!state || state.length > 256) return page(reply, 'GH_ERR_SIGN_IN_FAILED', 'the answer from the identity provider carries no valid state')
    const cookieJar = parseCookies(request.headers.cookie)
    const txCookie = transactionCookie(config, state, origin)
    const clearTx = txCookie.write(undefined, cookieJar)
    const tx = txCookie.read(cookieJar).payload
    // No transaction (expired, replayed, started elsewhere) or another state: a forged or
    // stale callback. Nothing is exchanged and no session is set.
    if (!tx || !sameSecret(tx.state, state))
      return page(reply, 'GH_ERR_SIGN_IN_FAILED', 'this sign-in was not started here or has expired; please start again', clearTx)
    const provider = deps.providers.get(tx.idp)
    if (!provider?.ready) return page(reply, 'GH_ERR_IDP_UNAVAILABLE', undefined, clearTx, { retryUrl: retryOf(tx) })
    const current = new URL(`${origin}${request.raw.url}`)
    // The answer must come back where this IdP's answers come back: one that reached
    // another IdP's callback was issued by that other IdP (a mix-up), and redeeming it
    // here would hand its code and PKCE verifier to the wrong token endpoint.
    if (current.pathname !== deps.providers.redirectPath(provider)) {
      request.log.warn({ idp: tx.idp, path: current.pathname }, "sign-in refused: the answer reached another identity provider's callback")
      return page(reply, 'GH_ERR_SIGN_IN_FAILED', "this answer came back to another identity provider's callback; please start again", clearTx)
    }
    try {
      const tokens = await provider.withKeyRefetch((config) =>
        oidc.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: tx.verifier,
          expectedState: tx.state,
          expectedNonce: tx.nonce,
          idTokenExpected: true,
        }),
      )
      provider.checkIdToken(tokens.id_token)
      const idClaims = tokens.claims()
      if (!idClaims) throw new GatehouseError('GH_ERR_SIGN_IN_FAILED', 'the identity provider sent no ID token')
      // openid-client checks exp but only the type of iat; a token issued in the future
      // (beyond clock skew) is forged or from a broken clock, and is refused.
      if (typeof idClaims.iat !== 'number' || idClaims.iat > Math.floor(Date.now() / 1000) + CLOCK_SKEW_SECONDS) {
        throw new OidcFailure('GH_ERR_SIGN_IN_FAILED', 'ID_TOKEN_IAT_IN_FUTURE', 'the ID token was issued in the future', undefined, undefined)
      }
      let claims: Record<string, unknown> = { ...idClaims }
      if (provider.settings.userinfo) {
        // The userinfo answer must describe the same subject as the ID token.
        const info = await oidc.fetchUserInfo(provider.config, tokens.access_token, idClaims.sub)
        claims = { ...info, ...idClaims }
      }
      const mapped = mapClaims(provider.settings, claims)
      const now = Math.floor(Date.now() / 1000)
      const data: SessionData = {
        sid: newSessionId(),
        idp: tx.idp,
        sub: mapped.sub,
        user: mapped.user,
        email: mapped.email,
        name: mapped.name,
        groups: mapped.groups,
        claims,
        idToken: tokens.id_token,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        accessExpiresAt: tokens.expires_in === undefined ? undefined : now + tokens.expires_in,
        refreshAt: tokens.refresh_token === undefined ? undefined : refreshTime(now, tokens.expires_in),
        idpSid: typeof idClaims.sid === 'string' ? idClaims.sid : undefined,
        // With milliseconds: a revocation in this same second (a sign-out a moment ago)
        // must not cover the new session.
        signedInAt: Date.now() / 1000,
      }
      // A sign-in always starts a new session (new sid, new cookie): no fixation.
      const sessionCookies = await sessions.set(data, cookieJar, { httpLoopback: isHttpLoopback(origin) })
      request.log.info({ event: 'sign_in', idp: tx.idp, user: mapped.user, sid: data.sid }, 'signed in')
      deps.metrics?.signIns.inc({ idp: tx.idp, result: 'signed_in' })
      // Signed in again: the signed-out marker has done its work.
      const setCookies = [...clearTx, ...signedOutMarker(config, origin).write(undefined, cookieJar), ...sessionCookies]
      if (tx.hb !== undefined && new URL(tx.rd).origin !== origin) {
        return handOff(reply, deps.runtime(), { data, exp: now + config.session.lifetimeSeconds }, tx.rd, tx.hb, setCookies)
      }
      return reply.header('set-cookie', setCookies).header('cache-control', 'no-store').redirect(tx.rd, 302)
    } catch (err) {
      // What the IdP said (the user cancelled, PKCE required, invalid_client) is shown,
      // escaped, and logged; so is which of our checks refused its answer.
      const failure = translateOidcError(err)
      deps.metrics?.signIns.inc({ idp: tx.idp, result: failure.code === 'GH_ERR_IDP_UNAVAILABLE' ? 'idp_unavailable' : 'refused' })
      request.log.warn(
        { idp: tx.idp, err: { code: failure.code, reason: failure.reason, message: failure.message, idp_description: failure.idpDescription } },
        'sign-in failed',
      )
      return page(reply, failure.code, failure.message, clearTx, {
        retryUrl: retryOf(tx),
        ...(failure.fromIdp ? { idpSaid: { error: failure.reason, description: failure.idpDescription } } : {}),
      })
    }
  }
  // /oauth2/callback, and /oauth2/callback/<id> for IdPs that get a callback of their own.
  app.get(CALLBACK_PATH, callback)
  app.get(`${CALLBACK_PATH}/:idp`, callback)
}
