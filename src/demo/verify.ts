// The demo upstream checks the identity assertion as a real app behind Gatehouse should:
// ES256 only, signed by a key from Gatehouse's JWKS, issued for (iss and aud) the host
// the browser asked for, not expired. What it found, or why it refused, is shown.

import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose'

export type Verification =
  | { readonly status: 'verified'; readonly claims: JWTPayload; readonly kid: string | undefined }
  | { readonly status: 'not verified'; readonly reason: string; readonly claims: JWTPayload | undefined }
  | { readonly status: 'absent' }

/** A human reason for each way jose refuses a token, with its own message after it. */
function reasonFor(err: unknown, jwksUrl: string): string {
  const code = (err as { code?: string })?.code
  const message = (err as Error)?.message ?? String(err)
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return "the signature does not match Gatehouse's key: the assertion was altered, or signed by someone else"
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return `no key in ${jwksUrl} has this assertion's kid: another Gatehouse signed it, or a key from before a restart`
    case 'ERR_JWT_EXPIRED':
      return 'it has expired'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `a claim is wrong: ${message}`
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'it is not signed with ES256, the only algorithm Gatehouse uses'
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return `it is not a well-formed signed JWT (${message})`
    case 'ERR_JWKS_TIMEOUT':
      return `Gatehouse's keys at ${jwksUrl} did not arrive in time`
    default:
      return `it could not be checked against ${jwksUrl}: ${message}`
  }
}

/** A checker of assertions against the JWKS at `jwksUrl` (keys are fetched once and
 *  again for a kid not seen before, as jose does). */
export function assertionVerifier(jwksUrl: string): (token: string | undefined, host: string | undefined) => Promise<Verification> {
  const keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 3000, cooldownDuration: 1000 })
  return async (token, host) => {
    if (token === undefined || token === '') return { status: 'absent' }
    // Gatehouse issues each assertion for the host the browser asked for (no port).
    const audience = host
      ?.replace(/:\d+$/, '')
      .replace(/^\[|\]$/g, '')
      .toLowerCase()
    try {
      const { payload, protectedHeader } = await jwtVerify(token, keys, {
        algorithms: ['ES256'],
        ...(audience ? { issuer: audience, audience } : {}),
        clockTolerance: 5,
      })
      return { status: 'verified', claims: payload, kid: protectedHeader.kid }
    } catch (err) {
      let claims: JWTPayload | undefined
      try {
        claims = decodeJwt(token)
      } catch {
        claims = undefined
      }
      return { status: 'not verified', reason: reasonFor(err, jwksUrl), claims }
    }
  }
}
