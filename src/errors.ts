// Every error Gatehouse reports has a stable code from this one table, so logs,
// error pages, JSON answers and tests all speak the same names.

export const ERRORS = {
  GH_ERR_CONFIG_INVALID: { status: 500, message: 'the configuration is invalid' },
  GH_ERR_BAD_REQUEST: { status: 400, message: 'the request is malformed' },
  GH_ERR_BAD_PATH: { status: 400, message: 'the request path is not acceptable' },
  GH_ERR_BAD_HEADER: { status: 400, message: 'a request header is not acceptable' },
  GH_ERR_URI_TOO_LONG: { status: 414, message: 'the request target is too long' },
  GH_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  GH_ERR_BODY_TOO_LARGE: { status: 413, message: 'the request body is too large for this route' },
  GH_ERR_BAD_HOST: { status: 400, message: 'the Host header is missing or malformed' },
  GH_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'this method is not accepted' },
  GH_ERR_TOO_MANY_REQUESTS: { status: 429, message: 'this client has too many requests in flight' },
  GH_ERR_NO_ROUTE: { status: 404, message: 'no route matches this host and path' },
  GH_ERR_UNAUTHENTICATED: { status: 401, message: 'sign-in is required' },
  GH_ERR_FORBIDDEN: { status: 403, message: 'access to this route is denied' },
  GH_ERR_WEBSOCKETS_DISABLED: { status: 403, message: 'websockets are not enabled on this route' },
  GH_ERR_UPGRADE_UNSUPPORTED: { status: 400, message: 'only websocket upgrades are accepted' },
  GH_ERR_UPSTREAM_UNAVAILABLE: { status: 502, message: 'the upstream could not be reached' },
  GH_ERR_NO_HEALTHY_UPSTREAM: { status: 503, message: 'no upstream of this route is healthy' },
  GH_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'the upstream did not answer in time' },
  GH_ERR_LISTEN: { status: 500, message: 'an address to listen on cannot be used' },
  GH_ERR_SHUTTING_DOWN: { status: 503, message: 'Gatehouse is shutting down' },
  GH_ERR_DEMO_IN_PRODUCTION: { status: 500, message: 'the demo (development IdP, demo upstream) refuses to run with NODE_ENV=production' },
  GH_ERR_NO_IDP: { status: 500, message: 'no identity provider is configured' },
  GH_ERR_LOGOUT_TOKEN: { status: 400, message: 'the back-channel logout request is not acceptable' },
  GH_ERR_SIGN_IN_FAILED: { status: 400, message: 'sign-in could not be completed' },
  GH_ERR_TOO_MANY_SIGN_INS: { status: 429, message: 'too many failed sign-ins; try again later' },
  GH_ERR_IDP_UNAVAILABLE: { status: 503, message: 'the identity provider cannot be reached' },
  GH_ERR_SIGNING_KEY: { status: 500, message: 'the identity signing key is unusable' },
  GH_ERR_SESSION_SECRET: { status: 500, message: 'a session secret is not a 32-byte key in base64' },
  GH_ERR_SESSION_STORE_UNAVAILABLE: { status: 503, message: 'sessions cannot be read right now' },
  GH_ERR_SESSION_TOO_LARGE: { status: 500, message: 'the session is too large to fit in its cookies' },
  GH_ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

/** Whether a code read from outside this process (a worker's report) is one of ours. */
export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERRORS, code)

export class GatehouseError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options)
    this.name = 'GatehouseError'
    this.code = code
    this.status = ERRORS[code].status
  }
}

/** One problem found in a configuration file, with where it is. */
export interface ConfigIssue {
  file: string
  line: number
  col: number
  /** Key path inside the file, e.g. `routes[0].to`; empty for file-level problems. */
  path: string
  message: string
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.col}`
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`
}

/** What went wrong, a line per problem: every issue of a rejected config, else the message. */
export function problemLines(err: unknown): string[] {
  return err instanceof ConfigError ? err.issues.map(formatIssue) : [(err as Error)?.message ?? String(err)]
}

export class ConfigError extends GatehouseError {
  readonly issues: readonly ConfigIssue[]

  constructor(issues: ConfigIssue[]) {
    super('GH_ERR_CONFIG_INVALID', issues.map(formatIssue).join('\n'))
    this.name = 'ConfigError'
    this.issues = issues
  }
}
