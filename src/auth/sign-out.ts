// Sign-out and the signed-out page. Signing out ends this browser's session on every
// host it opened (not only the one the user is on), at the IdP too when `logout: true`,
// and makes the next sign-in ask for credentials again, so "sign out" never turns into
// a silent sign-in on the next click.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import * as oidc from 'openid-client'
import type { Config } from '../config/compile.js'
import { replyError } from '../http/answers.js'
import { SIGNED_OUT_PATH, SIGN_OUT_PATH } from '../http/endpoints.js'
import { isHttpLoopback } from '../http/loopback.js'
import { requestOrigin } from '../http/request.js'
import { isCrossSite, isSameOrigin, queryParam } from '../http/same-site.js'
import type { SessionCookie } from '../session/cookie.js'
import { helperCookie } from './helper-cookie.js'
import { parseCookies, type CookieMap } from '../session/cookies.js'
import type { AuthDeps } from './deps.js'
import { signedOutPage, signOutConfirmationPage } from './pages.js'
import { safeRedirect } from './redirect.js'

/** What the signed-out marker remembers: where the user was, which IdP, and whether the
 *  IdP was asked to end its own session. */
export interface SignedOutMarker {
  readonly idp?: string
  /** RP-initiated logout was started at the IdP. */
  readonly rp: boolean
  readonly rd: string
}

/** A sealed cookie set at sign-out: the signed-out page reads it (so nothing in its URL
 *  can make it claim what did not happen), and while it lives, sign-in asks the IdP to
 *  authenticate again (prompt=login) instead of reusing the IdP's session. */
export function signedOutMarker(config: Config, origin: string): SessionCookie<SignedOutMarker> {
  return helperCookie<SignedOutMarker>(config, `${config.session.cookieName}_so`, config.session.lifetimeSeconds, origin, config.session.domain)
}

/** Whether the next sign-in should ask the IdP to authenticate again. */
export function signedOutLocally(config: Config, origin: string, cookies: CookieMap): boolean {
  const marker = signedOutMarker(config, origin).read(cookies).payload
  return marker !== undefined && !marker.rp
}

export function registerSignOut(app: FastifyInstance, deps: AuthDeps): void {
  /** Sign-out acts for the user, so a request another site made (a link, an image, a
   *  form) gets a page with a button instead: the user confirms, and the button's POST
   *  comes from our own origin. */
  const signOut = async (request: FastifyRequest, reply: FastifyReply) => {
    const { config, sessions } = deps.runtime()
    const origin = requestOrigin(request.raw, config.isTrustedProxy)
    if (!origin) return replyError(reply, 'GH_ERR_BAD_HOST')
    const rd = safeRedirect(queryParam(request, 'rd'), origin, config.routes) ?? `${origin}/`
    if (request.method === 'GET' ? isCrossSite(request, origin) : !isSameOrigin(request, origin)) {
      return config.pages.send(reply, 200, signOutConfirmationPage(config.pages, rd))
    }
    const cookieJar = parseCookies(request.headers.cookie)
    const found = await sessions.get(cookieJar)
    const session = typeof found === 'string' ? undefined : found
    const cleared = await sessions.delete(cookieJar, { httpLoopback: isHttpLoopback(origin) })
    if (session) {
      const { data } = session
      // The sessions this browser opened on other hosts came from the same sign-in at
      // the IdP (its `sid`); without one, from the same user at that IdP. Revoking them
      // is what makes sign-out end the session everywhere, as users expect.
      await sessions.revokeMatching(data.idpSid !== undefined ? { idp: data.idp, idpSid: data.idpSid } : { idp: data.idp, sub: data.sub })
      request.log.info({ event: 'sign_out', idp: data.idp, user: data.user, sid: data.sid }, 'signed out')
      deps.metrics?.signOuts.inc({ idp: data.idp })
    }
    const provider = session ? deps.providers.get(session.data.idp) : undefined
    const endSession = session && provider?.ready && provider.settings.logout ? provider.config.serverMetadata().end_session_endpoint : undefined
    const marker = signedOutMarker(config, origin).write({ idp: session?.data.idp, rp: endSession !== undefined, rd }, cookieJar)
    reply.header('set-cookie', [...cleared, ...marker]).header('cache-control', 'no-store')
    if (session && provider && endSession !== undefined) {
      // The IdP sends the browser back to the signed-out page, which must be registered
      // there as a post-logout redirect URI.
      const url = oidc.buildEndSessionUrl(provider.config, {
        post_logout_redirect_uri: `${origin}${SIGNED_OUT_PATH}`,
        ...(session.data.idToken ? { id_token_hint: session.data.idToken } : { client_id: provider.settings.clientId }),
      })
      return reply.redirect(url.href, 302)
    }
    return reply.redirect(`${origin}${SIGNED_OUT_PATH}`, 302)
  }
  app.get(SIGN_OUT_PATH, signOut)
  app.post(SIGN_OUT_PATH, signOut)

  app.get(SIGNED_OUT_PATH, async (request, reply) => {
    const { config } = deps.runtime()
    const origin = requestOrigin(request.raw, config.isTrustedProxy)
    if (!origin) return replyError(reply, 'GH_ERR_BAD_HOST')
    const marker = signedOutMarker(config, origin).read(parseCookies(request.headers.cookie)).payload
    // The marker was sealed by us, but rd is checked again: the routes may have changed.
    const rd = safeRedirect(marker?.rd, origin, config.routes) ?? `${origin}/`
    const idp = marker?.idp === undefined ? undefined : config.idps.find((i) => i.id === marker.idp)
    return config.pages.send(reply, 200, signedOutPage(config.pages, { idpName: idp?.name, idpEnded: marker?.rp === true, rd }))
  })
}
