// A route as the proxy uses it: every field parsed, defaulted and frozen at load, so
// the request path only reads plain properties.

import type { RE2JS } from 're2js'
import type { Location } from '../config/schema.js'
import { legacyRules, Policy } from '../policy/index.js'
import type { RouteOrigin, RouteSpec, UpstreamTarget } from '../config/spec.js'

export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000

export type PathMatch =
  | { readonly kind: 'path'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'regex'; readonly value: string; readonly re: RE2JS }

export interface UpstreamTls {
  readonly skipVerify: boolean
  readonly serverName: string | undefined
  readonly ca: string | undefined
  readonly caFile: string | undefined
}

export interface Route {
  /** The route's name, or `from` plus its path matcher when it has none. */
  readonly id: string
  readonly at: Location
  readonly origin: RouteOrigin
  /** `hostname` or `hostname:port` (port only when not the scheme's default). */
  readonly hostKey: string
  readonly match: PathMatch
  readonly upstreams: readonly UpstreamTarget[]
  readonly prefixRewrite: string | undefined
  /** What the upstream sees as Host: its own, the client's, or a fixed value. */
  readonly hostHeader: { readonly kind: 'upstream' } | { readonly kind: 'preserve' } | { readonly kind: 'rewrite'; readonly value: string }
  /** Lower-case names; applied after our own headers, so operators can override them. */
  readonly setRequestHeaders: readonly (readonly [string, string])[]
  /** set_request_headers values that use ${gatehouse.jwt}, ${gatehouse.id_token} or
   *  ${gatehouse.access_token}: filled per request, left out without a session. */
  readonly identityRequestHeaders: readonly (readonly [string, readonly TemplatePart[]])[]
  readonly removeRequestHeaders: ReadonlySet<string>
  readonly setResponseHeaders: readonly (readonly [string, string])[]
  /** Time to wait for the upstream's response headers. */
  readonly timeoutMs: number
  /** Longest silence allowed while a body streams (and on websockets when set). */
  readonly idleTimeoutMs: number
  /** Websockets run without timeouts unless idle_timeout is set explicitly. */
  readonly websocketIdleTimeoutMs: number
  readonly allowWebsockets: boolean
  readonly tls: UpstreamTls
  readonly passIdentityHeaders: boolean
  /** The route's policy plus its legacy allow fields, compiled once. */
  readonly policy: Policy
  /** Largest request body accepted (413 beyond); undefined: no limit. */
  readonly maxBodyBytes: number | undefined
  /** An identity provider this route signs users in with, skipping the chooser. */
  readonly idp: string | undefined
}

function describeMatch(match: PathMatch): string {
  return match.kind === 'prefix' && match.value === '/' ? '' : ` ${match.kind} ${match.value}`
}

/** A literal piece of a header value, or the name of a per-session value. */
export type TemplatePart = string | { readonly token: IdentityToken }
export type IdentityToken = 'jwt' | 'id_token' | 'access_token'

const TOKEN = /\$\{gatehouse\.(jwt|id_token|access_token)\}/g
const hasIdentityToken = (value: string) => value.includes('${gatehouse.')

function parseTemplate(value: string): TemplatePart[] {
  const parts: TemplatePart[] = []
  let last = 0
  for (const m of value.matchAll(TOKEN)) {
    if (m.index! > last) parts.push(value.slice(last, m.index))
    parts.push({ token: m[1] as IdentityToken })
    last = m.index! + m[0].length
  }
  if (last < value.length) parts.push(value.slice(last))
  return parts
}

export function compileRoute(spec: RouteSpec, at: Location, ca: string | undefined, caFile: string | undefined): Route {
  const match: PathMatch =
    spec.path !== undefined ? { kind: 'path', value: spec.path }
    : spec.regex !== undefined ? { kind: 'regex', value: spec.regex.pattern().slice(4, -2), re: spec.regex }
    : { kind: 'prefix', value: spec.prefix ?? '/' }
  const origin = spec.from!
  const hostKey = origin.port === undefined ? origin.hostname : `${origin.hostname}:${origin.port}`
  const lower = (entries: Record<string, string> | undefined) =>
    Object.freeze(Object.entries(entries ?? {}).map(([k, v]) => Object.freeze([k.toLowerCase(), v] as const)))
  const route: Route = {
    id: spec.name ?? `${origin.scheme}://${hostKey}${describeMatch(match)}`,
    at,
    origin: Object.freeze(origin),
    hostKey,
    match: Object.freeze(match),
    upstreams: Object.freeze(spec.to!.map((t) => Object.freeze(t))),
    prefixRewrite: spec.prefix_rewrite,
    hostHeader: Object.freeze(
      spec.preserve_host_header ? { kind: 'preserve' as const }
      : spec.host_rewrite !== undefined ? { kind: 'rewrite' as const, value: spec.host_rewrite }
      : { kind: 'upstream' as const },
    ),
    setRequestHeaders: lower(spec.set_request_headers).filter(([, v]) => !hasIdentityToken(v)),
    identityRequestHeaders: Object.freeze(lower(spec.set_request_headers).filter(([, v]) => hasIdentityToken(v)).map(([k, v]) => Object.freeze([k, parseTemplate(v)] as const))),
    removeRequestHeaders: new Set((spec.remove_request_headers ?? []).map((h) => h.toLowerCase())),
    setResponseHeaders: lower(spec.set_response_headers),
    timeoutMs: spec.timeout ?? DEFAULT_TIMEOUT_MS,
    idleTimeoutMs: spec.idle_timeout ?? DEFAULT_IDLE_TIMEOUT_MS,
    websocketIdleTimeoutMs: spec.idle_timeout ?? 0,
    allowWebsockets: spec.allow_websockets ?? false,
    tls: Object.freeze({ skipVerify: spec.tls_skip_verify ?? false, serverName: spec.tls_server_name, ca, caFile }),
    passIdentityHeaders: spec.pass_identity_headers ?? false,
    idp: spec.idp,
    maxBodyBytes: spec.max_body_size,
    policy: new Policy([...(spec.policy ?? []), ...legacyRules(spec, `${at.path} (legacy allow fields)`)]),
  }
  return Object.freeze(route)
}

/** Two routes with the same host and path matcher would make one unreachable. */
export function routeIdentity(route: Route): string {
  return `${route.hostKey} ${route.match.kind} ${route.match.value}`
}
