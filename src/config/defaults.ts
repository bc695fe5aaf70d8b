// Every default Gatehouse applies, in one table, readable top to bottom. compile*.ts read
// from here; the README's configuration reference quotes these values.

export const DEFAULTS = Object.freeze({
  address: Object.freeze({ host: '0.0.0.0', port: 8080 }),
  logLevel: 'info',
  logFormat: 'json',
  shutdownTimeoutMs: 10_000,
  /** One process: caches and limits are then exact, and most proxies are not CPU-bound. */
  workers: 1,
  allowPathParameters: false,
  allowUnusualHeaderNames: false,
  limits: Object.freeze({
    /** Sessions from IdPs with many groups are chunked across cookies (up to about 30 KB). */
    maxHeaderBytes: 64 * 1024,
    /** 0: no limit. */
    maxConnections: 0,
    headersTimeoutMs: 20_000,
    requestTimeoutMs: 300_000,
    /** How long a client may leave an answer unread before it is cut. */
    writeTimeoutMs: 30_000,
    /** Requests (and websockets) one client address may have in flight; 0: no bound. */
    maxRequestsPerClient: 256,
  }),
  identity: Object.freeze({ header: 'X-Gatehouse-Jwt-Assertion' }),
  /** Which headers describe the original request to /.gatehouse/auth. */
  forwardAuthStyle: 'auto',
  session: Object.freeze({
    cookieName: '_gatehouse',
    sameSite: 'lax',
    lifetimeSeconds: 14 * 3600,
  }),
  idp: Object.freeze({
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: Object.freeze(['openid', 'profile', 'email']),
    usernameClaim: 'preferred_username',
    emailClaim: 'email',
    groupsClaim: 'groups',
    pkce: true,
    userinfo: false,
    logout: false,
    autoLogin: false,
    /** An email marked email_verified: false is left out of the session. */
    requireVerifiedEmail: true,
  }),
  route: Object.freeze({
    prefix: '/',
    timeoutMs: 30_000,
    /** Longest silence while a body streams. */
    idleTimeoutMs: 5 * 60_000,
    /** Websockets run without timeouts unless idle_timeout is set. */
    websocketIdleTimeoutMs: 0,
    allowWebsockets: false,
    tlsSkipVerify: false,
    passIdentityHeaders: false,
    balancing: 'round_robin',
  }),
  healthCheck: Object.freeze({ intervalMs: 10_000, timeoutMs: 2_000, healthyThreshold: 2, unhealthyThreshold: 3 }),
} as const)
