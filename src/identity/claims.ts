// Who the user is, as Gatehouse vouches for it to upstreams: in the signed assertion and
// in identity headers. Session data has these fields, so a session is passed as it is.

export interface IdentityClaims {
  /** The IdP's subject. */
  readonly sub: string
  readonly user: string
  readonly email?: string
  readonly groups: readonly string[]
  readonly name?: string
  /** The session id, so an upstream can tell sessions apart (and the assertion cache key). */
  readonly sid: string
}
