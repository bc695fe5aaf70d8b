// The one place that looks inside openid-client's (and oauth4webapi's) errors. Every
// failure of a sign-in, refresh or discovery becomes a GatehouseError with our code, the
// library's own code as `reason` (which check failed), what the IdP said when it said
// something (`error`, `error_description`), and the original error as `cause`.

import * as oidc from 'openid-client'
import { GatehouseError, type ErrorCode } from '../errors.js'

export class OidcFailure extends GatehouseError {
  /** openid-client's code (OAUTH_JWT_CLAIM_COMPARISON_FAILED, ...) or the IdP's `error`. */
  readonly reason: string
  /** The IdP's own words (error_description), when it gave any. */
  readonly idpDescription: string | undefined
  /** True when `reason` is the IdP's `error` (it answered with an OAuth error), not one
   *  of our checks or the network. */
  readonly fromIdp: boolean

  constructor(code: ErrorCode, reason: string, detail: string, idpDescription: string | undefined, cause: unknown, fromIdp = false) {
    super(code, detail, { cause })
    this.name = 'OidcFailure'
    this.reason = reason
    this.idpDescription = idpDescription
    this.fromIdp = fromIdp
  }
}

/** Network failures: the IdP was not reached or did not answer in time. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
])

function networkCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown; name?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return e.code
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'ETIMEDOUT'
  }
  return undefined
}

/** The HS algorithm of an ID token openid-client refused for its alg, if that was why:
 *  its errors keep the offending header (or its alg) somewhere along the cause chain. */
function hmacAlgorithm(err: unknown): string | undefined {
  for (let e = err as { cause?: unknown; alg?: unknown; header?: { alg?: unknown } } | undefined, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const alg = e.alg ?? e.header?.alg
    if (typeof alg === 'string') return /^HS(256|384|512)$/.test(alg) ? alg : undefined
    e = e.cause as typeof e
  }
  return undefined
}

export function translateOidcError(err: unknown): OidcFailure {
  if (err instanceof OidcFailure) return err
  if (err instanceof GatehouseError) return new OidcFailure(err.code, err.code, err.message, undefined, err)
  // The IdP answered with an OAuth error: at the authorization endpoint (the user
  // cancelled, PKCE required) or at the token endpoint (invalid_client, invalid_grant).
  if (err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError) {
    const description = typeof err.error_description === 'string' ? err.error_description : undefined
    const said = description ? `${err.error}: ${description}` : err.error
    return new OidcFailure('GH_ERR_SIGN_IN_FAILED', err.error, `the identity provider answered with an error (${said})`, description, err, true)
  }
  const unreachable = networkCode(err)
  if (unreachable) return new OidcFailure('GH_ERR_IDP_UNAVAILABLE', unreachable, `the identity provider could not be reached (${unreachable})`, undefined, err)
  const hmac = hmacAlgorithm(err)
  if (hmac) {
    return new OidcFailure(
      'GH_ERR_SIGN_IN_FAILED',
      'ID_TOKEN_ALG_REFUSED',
      `the ID token is signed with ${hmac} (the client secret as the key), which is refused unless configured; if this IdP signs that way, set id_token_signed_response_alg: ${hmac}`,
      undefined,
      err,
    )
  }
  const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : ((err as Error)?.name ?? 'ERROR')
  // The library's message is generic; its cause names the check that failed.
  const cause = (err as { cause?: { message?: unknown } }).cause?.message
  const check = typeof cause === 'string' ? `: ${cause}` : ''
  return new OidcFailure('GH_ERR_SIGN_IN_FAILED', code, `the identity provider's answer did not pass the checks (${code}${check})`, undefined, err)
}
