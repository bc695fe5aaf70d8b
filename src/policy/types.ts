// The plain data the policy engine judges. Nothing here knows about HTTP servers:
// the proxy, the CLI and the tests all build these objects the same way.

export interface PolicyRequest {
  /** Upper-case method. */
  readonly method: string
  /** The normalised path (never the query string). */
  readonly path: string
  /** Lower-case host without port. */
  readonly host: string
  /** The client's IP address; an IPv4-mapped IPv6 one (`::ffff:a.b.c.d`) counts as IPv4. */
  readonly sourceIp: string
  /** Milliseconds since the epoch. */
  readonly time: number
  /** Headers a CORS preflight carries; undefined when absent. */
  readonly origin: string | undefined
  readonly accessControlRequestMethod: string | undefined
}

/** A signed-in user as the IdP described them (see prepareUser). */
export interface UserClaims {
  readonly id: string
  readonly email?: string
  readonly groups?: readonly string[]
  /** Every claim from the ID token and userinfo, merged. */
  readonly claims?: Readonly<Record<string, unknown>>
}

export interface PolicyInput {
  readonly request: PolicyRequest
  /** undefined when there is no session. */
  readonly user: PreparedUser | undefined
}

/** A user reshaped once per session for fast matching. */
export interface PreparedUser {
  readonly id: string
  /** Lower-case, only when it has exactly one `@`. */
  readonly email: string | undefined
  /** Lower-case part after the `@` of `email`. */
  readonly domain: string | undefined
  readonly groups: readonly string[]
  readonly groupSet: ReadonlySet<string>
  readonly claims: Readonly<Record<string, unknown>>
  /** Claim lists already looked up, by claim name. */
  readonly claimCache: Map<string, readonly string[]>
}

export type Verdict = 'allow' | 'deny' | 'sign_in'

/** One problem in a policy, located by its key path relative to the policy. */
export interface PolicyIssue {
  readonly path: string
  readonly message: string
  /** The key at `path` is at fault (an unknown name), rather than its value. */
  readonly atKey?: boolean
}
