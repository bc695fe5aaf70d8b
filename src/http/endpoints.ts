// Every path Gatehouse answers itself, on every host it serves. One list, so the
// router, redirects, the `rd` check and the docs all name the same paths.

/** The IdP's redirect URI (RFC 6749 redirection endpoint). */
export const CALLBACK_PATH = '/oauth2/callback'
/** Everything else of Gatehouse's own lives under this prefix. */
export const OWN_PREFIX = '/.gatehouse/'
export const SIGN_IN_PATH = '/.gatehouse/sign_in'
export const LOCAL_SIGN_IN_PATH = '/.gatehouse/sign_in/local' // break-glass local accounts: the form and its POST
export const SIGN_OUT_PATH = '/.gatehouse/sign_out'
/** "You are signed out"; also the post-logout redirect URI registered at the IdP. */
export const SIGNED_OUT_PATH = '/.gatehouse/signed_out'
export const USER_PAGE_PATH = '/.gatehouse/'
export const USER_JSON_PATH = '/.gatehouse/user'
export const FORWARD_AUTH_PATH = '/.gatehouse/auth'
/** Where a route host takes a session over from the authenticate host (authenticate_url). */
export const HANDOFF_PATH = '/.gatehouse/handoff'
/** OpenID Connect Back-Channel Logout: `?idp=<id>` or `/<id>` names the IdP. */
export const BACKCHANNEL_LOGOUT_PATH = '/.gatehouse/backchannel_logout'
export const JWKS_PATH = '/.well-known/gatehouse/jwks.json'
export const PROBE_PATHS = { ping: '/ping', healthz: '/healthz', readyz: '/readyz' } as const

/** Whether Gatehouse answers `path` itself (on any host): its own prefix, the callback,
 *  the JWKS and the probes. Every such path goes through fastify's router; everything
 *  else is a route's. */
export function isOwnEndpointPath(path: string): boolean {
  return (
    path.startsWith(OWN_PREFIX) ||
    path.startsWith(CALLBACK_PATH) ||
    path === JWKS_PATH ||
    path === PROBE_PATHS.ping ||
    path === PROBE_PATHS.healthz ||
    path === PROBE_PATHS.readyz
  )
}

/** The absolute sign-in URL that brings the user back to `returnTo` afterwards, with the
 *  route's pinned IdP when it has one. */
export function signInUrl(origin: string, returnTo: string, idp: string | undefined): string {
  const pinned = idp === undefined ? '' : `&idp=${encodeURIComponent(idp)}`
  return `${origin}${SIGN_IN_PATH}?rd=${encodeURIComponent(returnTo)}${pinned}`
}
