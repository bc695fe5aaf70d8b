// Turns validated specs into the frozen runtime Config: files read, defaults applied,
// routes compiled and checked against each other.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { availableParallelism } from 'node:os'
import { createSecureContext } from 'node:tls'
import proxyaddr from 'proxy-addr'
import { ConfigError, type ConfigIssue } from '../errors.js'
import type { IdpSettings } from '../auth/providers.js'
import { legacyConflict } from '../policy/index.js'
import { suggest } from '../suggest.js'
import { compileIdps, compileSession, type SessionSettings } from './compile-auth.js'
import { compileLocalAccounts } from './compile-local-accounts.js'
import { LOCAL_IDP_ID, type LocalAccounts } from '../auth/local-accounts.js'
import { cookieDomainProblem, cookiePrefix } from '../session/chunks.js'
import { isLoopbackHostname } from '../http/loopback.js'
import { IdentitySigner } from '../identity/signer.js'
import { DEFAULT_AUTHORIZE_LOG_FIELDS, type AuthorizeLogField } from '../ops/decision-log.js'
import { routeIdentity, type Route } from '../routes/route.js'
import { compileRoute } from './compile-route.js'
import { compilePages } from './compile-pages.js'
import type { PageShell } from '../http/pages.js'
import { DEFAULTS } from './defaults.js'
import type { Located } from './schema.js'
import type { ListenAddress } from '../types.js'
import type { ConfigSpec, FORWARD_AUTH_STYLES, LOG_FORMATS, RouteSpec } from './spec.js'

export type LogLevel = NonNullable<ConfigSpec['log_level']>
export type LogFormat = (typeof LOG_FORMATS)[number]
export type ForwardAuthStyle = (typeof FORWARD_AUTH_STYLES)[number]

export interface Config {
  /** Absolute path of config.yaml, or undefined for configs built in code. */
  readonly configFile: string | undefined
  readonly policiesDir: string | undefined
  readonly address: ListenAddress
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly trustedProxies: readonly string[]
  /** Compiled once: whether a peer address may speak for the client (X-Forwarded-*). */
  readonly isTrustedProxy: (address: string) => boolean
  readonly limits: {
    readonly maxHeaderBytes: number
    /** 0: no limit. */
    readonly maxConnections: number
    /** Time a client has to send all its headers (slowloris); 0 disables. */
    readonly headersTimeoutMs: number
    /** Time a client has to send its whole request, body included; 0 disables. */
    readonly requestTimeoutMs: number
    /** Time an answer may wait for a client that stopped reading; 0 disables. */
    readonly writeTimeoutMs: number
    /** Requests and websockets one client address may have open at once; 0: no bound. */
    readonly maxRequestsPerClient: number
  }
  /** Accept `;` path parameters (refused by default; then matched literally). */
  readonly allowPathParameters: boolean
  /** Accept request header names with `_` or `.` (refused by default). */
  readonly allowUnusualHeaderNames: boolean
  /** Which headers describe the request a forward-auth caller asks about: `nginx`
   *  (X-Original-URL), `traefik` (X-Forwarded-Method/Proto/Host/Uri, Caddy too), or
   *  `auto` (either, never both). */
  readonly forwardAuthStyle: ForwardAuthStyle
  /** authenticate_url's origin (`https://auth.example.com`): sign-in and the callback
   *  happen there only, and route hosts get sessions through a handoff. Undefined:
   *  each route host signs users in itself. */
  readonly authenticateOrigin: string | undefined
  /** Where /metrics is served; undefined: off. */
  readonly metricsAddress: ListenAddress | undefined
  readonly logLevel: LogLevel
  /** json: one JSON object a line (for collectors); pretty: for people at a terminal. */
  readonly logFormat: LogFormat
  readonly shutdownTimeoutMs: number
  /** Processes serving requests: `workers`, with auto resolved to this machine's cores. */
  readonly workers: number
  readonly routes: readonly Route[]
  /** Fields of the one log line written per policy decision; empty turns it off. */
  readonly authorizeLogFields: readonly AuthorizeLogField[]
  readonly identity: IdentitySettings
  readonly idps: readonly IdpSettings[]
  /** The ids of `idps` (and `local` with local accounts): a session from any other IdP is refused. */
  readonly idpIds: ReadonlySet<string>
  /** Break-glass accounts from local_accounts.file; undefined: off. */
  readonly localAccounts: LocalAccounts | undefined
  readonly session: SessionSettings
  /** The shell every page is rendered with (branding, templates_dir). */
  readonly pages: PageShell
  readonly demo: { readonly upstream: ListenAddress | undefined; readonly idp: ListenAddress | undefined } | undefined
  /** What loads but is probably not what was meant (an empty policy): check prints
   *  these, serve logs them. */
  readonly warnings: readonly ConfigIssue[]
}

export interface IdentitySettings {
  readonly signer: IdentitySigner
  /** True when no signing_key_file was given: the key lives only as long as the process. */
  readonly ephemeral: boolean
  /** Lower-case name of the header carrying the assertion. */
  readonly header: string
  /** jwt_claims_headers, lower-cased header names -> claim names. */
  readonly claimHeaders: readonly (readonly [string, string])[]
  /** Every header name that carries identity (never accepted from clients). */
  readonly headerNames: ReadonlySet<string>
}

export interface CompileInput {
  spec: ConfigSpec
  routes: Located<RouteSpec>[]
  configFile?: string
  displayFile?: string
  baseDir: string
  policiesDir?: string
  /** Where each key path of config.yaml was written (from the loader). */
  positions?: ReadonlyMap<string, { line: number; col: number }>
  /** The environment the config was read with (NODE_ENV decides whether the demo may run). */
  env?: Readonly<Record<string, string | undefined>>
  /** What loads but is probably not what was meant, found while reading. */
  warnings?: readonly ConfigIssue[]
  /** Whether standard output is a terminal (the default log_format follows it);
   *  default: process.stdout.isTTY. */
  stdoutIsTerminal?: boolean
}

function readPem(file: string, baseDir: string, issue: (message: string) => void): string | undefined {
  try {
    return readFileSync(path.resolve(baseDir, file), 'utf8')
  } catch (err) {
    issue(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    return undefined
  }
}

/** Freezes plain objects and arrays all the way down, once, so nothing on the request
 *  path can change the config it shares with every other request. Class instances
 *  (the signer, compiled policies, regexes) keep their own state and are left alone. */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return value
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  return Object.freeze(value)
}

/** Cookie settings browsers would silently refuse, refused here instead. Secrets are
 *  checked as they are read (spec.ts). */
function checkSession(session: SessionSettings, routes: readonly Located<RouteSpec>[], top: (key: string) => (message: string) => void): void {
  const prefix = cookiePrefix(session.cookieName)
  if (session.domain !== undefined) {
    const problem = cookieDomainProblem(session.domain)
    if (problem) top('session.domain')(problem)
    else if (prefix === '__host-')
      top('session.domain')(`a __Host- cookie (${session.cookieName}) cannot have a domain; remove session.domain or rename the cookie`)
  }
  if (prefix !== undefined) {
    const plain = routes.find((r) => r.value.from?.scheme === 'http' && !isLoopbackHostname(r.value.from.hostname))
    if (plain)
      top('session.cookie_name')(
        `a ${prefix === '__host-' ? '__Host-' : '__Secure-'} cookie needs https, but ${plain.at.file}:${plain.at.line}:${plain.at.col} routes plain http`,
      )
  }
}

/** The demo's IdP and upstream live in one process, so it ignores `workers`. */
function workersWithDemo(spec: ConfigSpec, input: CompileInput): ConfigIssue[] {
  if (spec.demo === undefined || spec.workers === undefined || spec.workers === 1) return []
  const at = input.positions?.get('workers') ?? { line: 1, col: 1 }
  return [{ file: input.displayFile ?? 'config', ...at, path: 'workers', message: 'the demo runs in one process; workers applies without the demo block' }]
}

export function compileConfig(input: CompileInput): Config {
  const { spec, baseDir } = input
  const issues: ConfigIssue[] = []
  const top = (key: string) => (message: string) =>
    issues.push({ file: input.displayFile ?? 'config', ...(input.positions?.get(key) ?? { line: 1, col: 1 }), path: key, message })

  let tls: Config['tls']
  if ((spec.tls_cert_file === undefined) !== (spec.tls_key_file === undefined)) {
    top(spec.tls_cert_file ? 'tls_key_file' : 'tls_cert_file')('tls_cert_file and tls_key_file must be set together')
  } else if (spec.tls_cert_file && spec.tls_key_file) {
    const cert = readPem(spec.tls_cert_file, baseDir, top('tls_cert_file'))
    const key = readPem(spec.tls_key_file, baseDir, top('tls_key_file'))
    if (cert && key) {
      // Node would refuse these at listen time; check refuses them first.
      try {
        createSecureContext({ cert, key })
        tls = { cert, key }
      } catch (err) {
        top('tls_cert_file')(`the certificate and key cannot be used together: ${(err as Error).message}`)
      }
    }
  }

  // The development IdP signs anyone in without a password.
  if (spec.demo !== undefined && (input.env ?? process.env).NODE_ENV === 'production') {
    top('demo')('the demo (development IdP, demo upstream) refuses to run with NODE_ENV=production; remove the demo block')
  }

  let signer: IdentitySigner | undefined
  const keyFile = spec.identity?.signing_key_file
  try {
    signer = keyFile === undefined ? IdentitySigner.ephemeral() : IdentitySigner.fromFile(path.resolve(baseDir, keyFile))
  } catch (err) {
    top('identity.signing_key_file')((err as Error).message)
  }

  const session = compileSession(spec.session, baseDir, (key, message) => top(key)(message))
  checkSession(session, input.routes, top)

  const idpSpecs = spec.idps ?? (spec.idp ? [spec.idp] : [])
  const idps = compileIdps(idpSpecs, baseDir, (at, key, message) => issues.push({ ...at, path: `${at.path}.${key}`, message }))
  const localAccounts = compileLocalAccounts({ spec: spec.local_accounts, idps: idpSpecs, baseDir, configShown: input.displayFile, top, issues })
  // A route may pin the local accounts (`idp: local`) like any IdP when they are on.
  const idpIds = new Set<string>([...idpSpecs.map((s) => s.value.id as string), ...(localAccounts ? [LOCAL_IDP_ID] : [])])

  const pages = compilePages(
    spec,
    baseDir,
    idps.map((idp) => idp.logoUrl).filter((u): u is string => u !== undefined),
    top,
  )

  const routes: Route[] = []
  const closed: ConfigIssue[] = []
  const seen = new Map<string, Route>()
  for (const { value, at } of input.routes) {
    const routeIssue = (message: string) => issues.push({ ...at, message })
    if (value.idp !== undefined && !idpIds.has(value.idp)) {
      issues.push({
        ...at,
        path: `${at.path}.idp`,
        message: `no identity provider has the id ${JSON.stringify(value.idp)}${suggest(value.idp, [...idpIds] as string[])}`,
      })
      continue
    }
    const conflict = legacyConflict(value)
    if (conflict) {
      routeIssue(conflict)
      continue
    }
    if (value.prefix_rewrite !== undefined && value.regex !== undefined) {
      routeIssue('prefix_rewrite needs a prefix or path matcher, not regex')
      continue
    }
    const caFile = value.tls_custom_ca_file === undefined ? undefined : path.resolve(baseDir, value.tls_custom_ca_file)
    const ca = caFile === undefined ? undefined : readPem(caFile, baseDir, (m) => issues.push({ ...at, path: `${at.path}.tls_custom_ca_file`, message: m }))
    if (caFile !== undefined && ca === undefined) continue
    const route = compileRoute(value, at, ca, caFile)
    const identity = routeIdentity(route)
    const earlier = seen.get(identity)
    if (earlier) {
      routeIssue(
        `duplicate route: ${earlier.at.file}:${earlier.at.line}:${earlier.at.col} already routes ${route.hostKey} with ${route.match.kind} ${route.match.value}`,
      )
      continue
    }
    seen.set(identity, route)
    routes.push(route)
    // Deny by default makes a route no allow rule lets anyone into safe, but almost
    // always a mistake: check and serve say so. (An empty policy has its own warning.)
    const emptyPolicy = value.policy !== undefined && value.policy.length === 0
    if (!emptyPolicy && !route.policy.rules.some((rule) => rule.action === 'allow')) {
      closed.push({
        ...at,
        message: `no policy lets anyone into route ${route.id}: every request is denied (add a policy with an allow rule, or allow_* fields)`,
      })
    }
  }
  if (issues.length > 0) throw new ConfigError(issues)

  const identityHeader = (spec.identity?.header ?? DEFAULTS.identity.header).toLowerCase()
  const claimHeaders = Object.freeze(Object.entries(spec.jwt_claims_headers ?? {}).map(([h, c]) => Object.freeze([h.toLowerCase(), c] as const)))
  const trustedProxies = Object.freeze([...(spec.trusted_proxies ?? [])])
  // No trusted proxies means nobody may set X-Forwarded-*: the default is to trust no one.
  const trust = trustedProxies.length > 0 ? proxyaddr.compile([...trustedProxies]) : undefined
  return deepFreeze({
    configFile: input.configFile,
    policiesDir: input.policiesDir,
    address: spec.address ?? DEFAULTS.address,
    tls,
    trustedProxies,
    allowUnusualHeaderNames: spec.allow_unusual_header_names ?? DEFAULTS.allowUnusualHeaderNames,
    allowPathParameters: spec.allow_path_parameters ?? DEFAULTS.allowPathParameters,
    limits: {
      maxHeaderBytes: spec.limits?.max_header_bytes ?? DEFAULTS.limits.maxHeaderBytes,
      maxConnections: spec.limits?.max_connections ?? DEFAULTS.limits.maxConnections,
      headersTimeoutMs: spec.limits?.headers_timeout ?? DEFAULTS.limits.headersTimeoutMs,
      requestTimeoutMs: spec.limits?.request_timeout ?? DEFAULTS.limits.requestTimeoutMs,
      writeTimeoutMs: spec.limits?.write_timeout ?? DEFAULTS.limits.writeTimeoutMs,
      maxRequestsPerClient: spec.limits?.max_requests_per_client ?? DEFAULTS.limits.maxRequestsPerClient,
    },
    isTrustedProxy: trust ? (address: string) => trust(address, 0) : () => false,
    forwardAuthStyle: (spec.forward_auth?.style ?? DEFAULTS.forwardAuthStyle) as ForwardAuthStyle,
    authenticateOrigin: spec.authenticate_url === undefined ? undefined : new URL(spec.authenticate_url).origin,
    metricsAddress: spec.metrics_address,
    logLevel: spec.log_level ?? DEFAULTS.logLevel,
    // Unset: readable lines for a person at a terminal, JSON for a collector (a pipe, a
    // file, a container's log driver).
    logFormat: (spec.log_format ?? ((input.stdoutIsTerminal ?? process.stdout.isTTY === true) ? 'pretty' : DEFAULTS.logFormat)) as LogFormat,
    shutdownTimeoutMs: spec.shutdown_timeout ?? DEFAULTS.shutdownTimeoutMs,
    workers: spec.workers === 'auto' ? availableParallelism() : (spec.workers ?? DEFAULTS.workers),
    routes: Object.freeze(routes),
    authorizeLogFields: Object.freeze([...((spec.authorize_log_fields as AuthorizeLogField[] | undefined) ?? DEFAULT_AUTHORIZE_LOG_FIELDS)]),
    identity: Object.freeze({
      signer: signer!,
      ephemeral: keyFile === undefined,
      header: identityHeader,
      claimHeaders,
      headerNames: new Set([identityHeader, ...claimHeaders.map(([h]) => h)].map((h) => h.replace(/[_.]/g, '-'))),
    }),
    idps: Object.freeze(idps),
    // Sessions of local accounts are sessions like any other: accepted (and judged by
    // the same policies) wherever a session is checked, while local_accounts is on.
    idpIds,
    localAccounts,
    session,
    pages,
    warnings: [...(input.warnings ?? []), ...closed, ...workersWithDemo(spec, input)],
    demo: spec.demo ? Object.freeze({ upstream: spec.demo.upstream, idp: spec.demo.idp }) : undefined,
  })
}
