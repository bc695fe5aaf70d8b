// The shape of config.yaml and policies/*.yaml. Readers here check single values;
// cross-route checks (duplicates) happen in compile.ts.

import { validateHeaderValue } from 'node:http'
import proxyaddr from 'proxy-addr'
import { RE2JS } from 're2js'
import { AUTHORIZE_LOG_FIELDS } from '../ops/decision-log.js'
import { policyReader } from './policy-reader.js'
import { secretProblem } from '../session/codec.js'
import type { ListenAddress, RouteOrigin, UpstreamTarget } from '../types.js'
import { isScalar } from './yaml-tree.js'
import { bool, byteSize, dict, duration, int, list, located, obj, oneOrList, refine, str, type Reader } from './schema.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(text)
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}

const listenAddress = refine(str({ expects: 'a listen address such as 0.0.0.0:8080' }), (text) => {
  const address = parseListenAddress(text)
  return address ? { value: address } : { error: `must be host:port (e.g. 0.0.0.0:8080 or [::]:8443), got ${JSON.stringify(text)}` }
})

const trustedProxy = str({
  expects: 'an IP address, CIDR range, or one of loopback, linklocal, uniquelocal',
  check(text) {
    try {
      proxyaddr.compile([text])
      return undefined
    } catch {
      return `must be an IP address, CIDR range (10.0.0.0/8) or loopback/linklocal/uniquelocal, got ${JSON.stringify(text)}`
    }
  },
})

const fromUrl = refine(str({ expects: 'a URL such as https://app.example.com' }), (text): { value: RouteOrigin } | { error: string } => {
  const m = /^(https?):\/\/(\*\.)?([^/:?#@\s]+)(?::(\d{1,5}))?\/?$/i.exec(text)
  if (!m) {
    return { error: `must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got ${JSON.stringify(text)}` }
  }
  const hostname = (m[2] ?? '') + m[3].toLowerCase().replace(/\.$/, '')
  if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(hostname)) {
    return { error: `has an invalid host name ${JSON.stringify(m[3])}` }
  }
  const scheme = m[1].toLowerCase() as 'http' | 'https'
  const port = m[4] === undefined ? undefined : Number(m[4])
  if (port !== undefined && (port < 1 || port > 65535)) return { error: `has an invalid port ${m[4]}` }
  // Requests are matched with ports 80 and 443 both counted as "no port" (a proxy in front
  // may terminate TLS), so routes must count them the same way or they could never match.
  return { value: { scheme, hostname, port: port === 80 || port === 443 ? undefined : port } }
})

const upstreamUrl = refine(str({ expects: 'an upstream URL such as http://10.0.0.12:8080' }), (text): { value: UpstreamTarget } | { error: string } => {
  const comma = text.lastIndexOf(',')
  let weight = 1
  let urlText = text
  if (comma !== -1) {
    const w = text.slice(comma + 1).trim()
    if (!/^\d{1,6}$/.test(w) || Number(w) < 1) return { error: `has an invalid weight ${JSON.stringify(w)} (a whole number of at least 1)` }
    weight = Number(w)
    urlText = text.slice(0, comma).trim()
  }
  let url: URL
  try {
    url = new URL(urlText)
  } catch {
    return { error: `must be an http or https URL, got ${JSON.stringify(urlText)}` }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `must use http or https, got ${url.protocol.slice(0, -1)}` }
  if (url.username || url.password) return { error: 'must not contain user info (use set_request_headers for credentials)' }
  if (url.search || url.hash) return { error: 'must not contain a query or fragment' }
  if (url.pathname !== '/') return { error: `must not contain a path (${url.pathname}); use prefix_rewrite to change the upstream path` }
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return { value: { origin: url.origin, protocol: url.protocol, hostname, port, host: url.host, weight } }
})

/** Regexes run on RE2 semantics (linear time); constructs that need backtracking are refused. */
export const linearRegex = refine(str({ expects: 'a regular expression' }), (text): { value: RE2JS } | { error: string } => {
  try {
    return { value: RE2JS.compile(`^(?:${text})$`) }
  } catch (err) {
    return { error: `is not a regular expression Gatehouse can run in linear time: ${(err as Error).message}` }
  }
})

const absolutePath = str({
  expects: 'a path starting with /',
  check: (text) => (text.startsWith('/') ? undefined : `must start with /, got ${JSON.stringify(text)}`),
})

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const headerName = (name: string) => (HEADER_NAME.test(name) ? undefined : `${JSON.stringify(name)} is not a valid header name`)
/** What Node itself would refuse to send (CR, LF, NUL, characters beyond Latin-1) is
 *  refused here, at load, instead of failing every request of the route. */
const headerValue = str({
  expects: 'a header value',
  check: (text) => {
    if (/[\r\n\0]/.test(text)) return 'header values must not contain CR, LF or NUL'
    try {
      validateHeaderValue('x', text)
      return undefined
    } catch {
      return 'header values must be printable ASCII (or Latin-1) without control characters'
    }
  },
})

/** Pomerium's names (upper case) and ours; sticky_session picks by the user's session. */
export const BALANCING_NAMES = [
  'round_robin',
  'least_request',
  'random',
  'sticky_session',
  'ROUND_ROBIN',
  'LEAST_REQUEST',
  'RANDOM',
  'RING_HASH',
  'MAGLEV',
] as const

const healthCheck = obj(
  {
    http: obj(
      { path: str({ check: (text) => (text.startsWith('/') ? undefined : `must start with /, got ${JSON.stringify(text)}`) }) },
      { required: ['path'] },
    ),
    interval: duration(),
    timeout: duration(),
    healthy_threshold: int({ min: 1, max: 100 }),
    unhealthy_threshold: int({ min: 1, max: 100 }),
  },
  { required: ['http'], expects: 'a health check: { http: { path: /healthz }, interval, timeout, healthy_threshold, unhealthy_threshold }' },
)

export const routeSpec = obj(
  {
    name: str(),
    description: str(),
    logo_url: str(),
    from: fromUrl,
    to: oneOrList(upstreamUrl),
    load_balancing_policy: str({ oneOf: BALANCING_NAMES }),
    health_checks: list(healthCheck, { min: 1, max: 1 }),
    prefix: absolutePath,
    path: absolutePath,
    regex: linearRegex,
    prefix_rewrite: absolutePath,
    host_rewrite: str({
      expects: 'a host name',
      check: (text) =>
        /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(text) ? undefined : `must be a host[:port], got ${JSON.stringify(text)}`,
    }),
    preserve_host_header: bool(),
    set_request_headers: dict(headerValue, headerName),
    remove_request_headers: list(str({ check: headerName })),
    set_response_headers: dict(headerValue, headerName),
    timeout: duration(),
    idle_timeout: duration(),
    allow_websockets: bool(),
    tls_skip_verify: bool(),
    tls_server_name: str(),
    tls_custom_ca_file: str(),
    pass_identity_headers: bool(),
    policy: policyReader,
    idp: str(),
    /** Shown on this route's 403 page: why access is limited, and where to ask. */
    explanation: str(),
    remediation: str(),
    max_body_size: byteSize(),
    allow_public_unauthenticated_access: bool(),
    allow_any_authenticated_user: bool(),
    allowed_users: list(str()),
    allowed_domains: list(str()),
    allowed_groups: list(str()),
    allowed_idp_claims: dict(oneOrList(str())),
    cors_allow_preflight: bool(),
  },
  {
    required: ['from', 'to'],
    exclusive: [
      ['prefix', 'path', 'regex'],
      ['preserve_host_header', 'host_rewrite'],
    ],
    expects: 'a route mapping',
  },
)

export type RouteSpec = NonNullable<ReturnType<typeof routeSpec.read>>

const locatedRoutes = list(located(routeSpec), { partial: true })

export const routesFileSpec = obj({ routes: locatedRoutes }, { expects: 'a mapping with a routes list', partial: true })

const httpUrl = str({
  expects: 'an http(s) URL',
  check(text) {
    try {
      const url = new URL(text)
      if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be an https URL, got ${JSON.stringify(text)}`
      if (url.username || url.password) return 'must not contain user info'
      return undefined
    } catch {
      return `must be an http(s) URL, got ${JSON.stringify(text)}`
    }
  },
})

export const idpSpec = obj(
  {
    id: str({ check: (text) => (/^[a-z0-9][a-z0-9_-]{0,62}$/.test(text) ? undefined : 'must be lower-case letters, digits, - and _ (at most 63)') }),
    name: str(),
    logo_url: httpUrl,
    issuer: httpUrl,
    authorization_url: httpUrl,
    token_url: httpUrl,
    userinfo_url: httpUrl,
    jwks_url: httpUrl,
    end_session_url: httpUrl,
    client_id: str(),
    client_secret: str(),
    client_secret_file: str(),
    token_endpoint_auth_method: str({ oneOf: ['client_secret_basic', 'client_secret_post', 'none'] }),
    scopes: list(str(), { min: 1 }),
    pkce: str({ oneOf: ['S256', 'none'] }),
    username_claim: str(),
    email_claim: str(),
    groups_claim: str(),
    group_mappings: dict(str()),
    userinfo: bool(),
    logout: bool(),
    auto_login: bool(),
    require_verified_email: bool(),
    id_token_signed_response_alg: str({
      oneOf: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'],
    }),
    redirect_path: str({
      expects: 'a path such as /oauth2/callback/corp',
      check: (text) =>
        /^\/oauth2\/callback(\/[A-Za-z0-9._~-]+)?$/.test(text) ? undefined : `must be /oauth2/callback or /oauth2/callback/<name>, got ${JSON.stringify(text)}`,
    }),
  },
  { required: ['id', 'client_id'], exclusive: [['client_secret', 'client_secret_file']], expects: 'an identity provider mapping' },
)

export type IdpSpec = NonNullable<ReturnType<typeof idpSpec.read>>

export const limitsSpec = obj({
  max_header_bytes: byteSize(),
  max_connections: int({ min: 0, max: 10_000_000 }),
  headers_timeout: duration(),
  request_timeout: duration(),
  write_timeout: duration(),
  max_requests_per_client: int({ min: 0, max: 1_000_000 }),
})

const sessionSecret = str({
  expects: 'a 32-byte key in base64',
  check: (text) => {
    const problem = secretProblem(text)
    return problem && `must be a 32-byte key in base64 (gatehouse keys makes one): ${problem}`
  },
})

/** `cookie`, or a Redis URL: redis://, rediss:// (TLS), redis+sentinel://host:port,host:port/master[/db],
 *  redis+cluster://host:port,host:port. */
const sessionStore = str({
  expects: 'cookie or a Redis URL',
  check(text) {
    if (text === 'cookie') return undefined
    const m = /^(redis|rediss|redis\+sentinel|redis\+cluster):\/\/(.+)$/.exec(text)
    if (!m)
      return `must be cookie or a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL, got ${JSON.stringify(text.replace(/\/\/[^@/]*@/, '//***@'))}`
    return undefined
  },
})

export const sessionSpec = obj({
  cookie_name: str({
    check: (text) => (/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/.test(text) ? undefined : "must be a cookie name (letters, digits and !#$%&'*+-.^_`|~)"),
  }),
  secrets: list(sessionSecret, { min: 1 }),
  domain: str(),
  same_site: str({ oneOf: ['lax', 'strict', 'none'] }),
  lifetime: duration(),
  store: sessionStore,
  /** The Redis password, read from a file (a Kubernetes Secret, say). */
  store_password_file: str(),
})

export const identitySpec = obj({
  signing_key_file: str(),
  header: str({ check: headerName }),
})

export const FORWARD_AUTH_STYLES = ['auto', 'nginx', 'traefik'] as const

export const forwardAuthSpec = obj({
  style: str({ oneOf: FORWARD_AUTH_STYLES }),
})

/** A CSS colour for buttons and links: hex only, so nothing can break out of the
 *  stylesheet it is written into. */
const cssColour = str({
  expects: 'a colour such as "#224488"',
  check: (text) => (/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(text) ? undefined : `must be a hex colour such as "#224488", got ${JSON.stringify(text)}`),
})

export const brandingSpec = obj({
  name: str(),
  logo_url: str({
    expects: 'an https URL or a path on the same host',
    check: (text) =>
      /^(https:\/\/[^\s"'<>]+|\/[^\s"'<>]*)$/.test(text) ? undefined : `must be an https URL or a path starting with /, got ${JSON.stringify(text)}`,
  }),
  primary_color: cssColour,
  footer: str(),
})

export const localAccountsSpec = obj(
  {
    /** A YAML file of accounts with scrypt password hashes (gatehouse hash-password). */
    file: str(),
  },
  { required: ['file'] },
)

export const LOG_FORMATS = ['json', 'pretty'] as const

export const demoSpec = obj({
  upstream: listenAddress,
  idp: listenAddress,
})

/** The one host where sign-in happens: scheme and host (and port) only. */
const authenticateUrl = str({
  expects: 'a URL such as https://auth.example.com',
  check(text) {
    const m = /^(https?):\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?\/?$/i.exec(text)
    return m ? undefined : `must be a scheme and host such as https://auth.example.com (no path, query or user info), got ${JSON.stringify(text)}`
  },
})

/** `auto` (one process per core) or a count. */
const workerCount = int({ min: 1, max: 256, expects: 'auto or a whole number from 1 to 256' })
const workersSpec: Reader<number | 'auto'> = {
  expects: workerCount.expects,
  read: (node, ctx, path) => (isScalar(node) && node.value === 'auto' ? 'auto' : workerCount.read(node, ctx, path)),
}

export const configSpec = obj(
  {
    address: listenAddress,
    authenticate_url: authenticateUrl,
    tls_cert_file: str(),
    tls_key_file: str(),
    policies_dir: str(),
    trusted_proxies: list(trustedProxy),
    allow_unusual_header_names: bool(),
    allow_path_parameters: bool(),
    limits: limitsSpec,
    metrics_address: listenAddress,
    log_level: str({ oneOf: LOG_LEVELS }),
    log_format: str({ oneOf: LOG_FORMATS }),
    branding: brandingSpec,
    templates_dir: str(),
    local_accounts: localAccountsSpec,
    authorize_log_fields: list(str({ oneOf: AUTHORIZE_LOG_FIELDS })),
    shutdown_timeout: duration(),
    workers: workersSpec,
    routes: locatedRoutes,
    identity: identitySpec,
    jwt_claims_headers: dict(str(), headerName),
    forward_auth: forwardAuthSpec,
    session: sessionSpec,
    idps: list(located(idpSpec), { min: 1 }),
    idp: located(idpSpec),
    demo: demoSpec,
  },
  { expects: 'a mapping of settings', exclusive: [['idps', 'idp']], partial: true },
)

export type ConfigSpec = NonNullable<ReturnType<typeof configSpec.read>>
