// A route as written (RouteSpec) compiled into the frozen Route the proxy reads: every
// field parsed and defaulted once, so the request path only reads plain properties.

import { legacyRules, Policy } from '../policy/index.js'
import type { Balancing, HealthCheck, IdentityToken, PathMatch, Route, TemplatePart } from '../routes/route.js'
import type { Location } from '../types.js'
import { DEFAULTS } from './defaults.js'
import type { RouteSpec } from './spec.js'

function describeMatch(match: PathMatch): string {
  return match.kind === 'prefix' && match.value === '/' ? '' : ` ${match.kind} ${match.value}`
}

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

/** Pomerium's hashing policies (RING_HASH, MAGLEV) keep a user on one upstream: here by
 *  the session. */
function balancingOf(name: string | undefined): Balancing {
  switch (name) {
    case undefined:
      return DEFAULTS.route.balancing as Balancing
    case 'RING_HASH':
    case 'MAGLEV':
      return 'sticky_session'
    default:
      return name.toLowerCase() as Balancing
  }
}

function healthCheckOf(spec: NonNullable<RouteSpec['health_checks']>[number] | undefined): HealthCheck | undefined {
  if (spec === undefined) return undefined
  const d = DEFAULTS.healthCheck
  return {
    path: spec.http!.path!,
    intervalMs: spec.interval || d.intervalMs,
    timeoutMs: spec.timeout || d.timeoutMs,
    healthyThreshold: spec.healthy_threshold ?? d.healthyThreshold,
    unhealthyThreshold: spec.unhealthy_threshold ?? d.unhealthyThreshold,
  }
}

export function compileRoute(spec: RouteSpec, at: Location, ca: string | undefined, caFile: string | undefined): Route {
  const match: PathMatch =
    spec.path !== undefined
      ? { kind: 'path', value: spec.path }
      : spec.regex !== undefined
        ? { kind: 'regex', value: spec.regex.pattern().slice(4, -2), re: spec.regex }
        : { kind: 'prefix', value: spec.prefix ?? DEFAULTS.route.prefix }
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
      spec.preserve_host_header
        ? { kind: 'preserve' as const }
        : spec.host_rewrite !== undefined
          ? { kind: 'rewrite' as const, value: spec.host_rewrite }
          : { kind: 'upstream' as const },
    ),
    setRequestHeaders: lower(spec.set_request_headers).filter(([, v]) => !hasIdentityToken(v)),
    identityRequestHeaders: Object.freeze(
      lower(spec.set_request_headers)
        .filter(([, v]) => hasIdentityToken(v))
        .map(([k, v]) => Object.freeze([k, parseTemplate(v)] as const)),
    ),
    removeRequestHeaders: new Set((spec.remove_request_headers ?? []).map((h) => h.toLowerCase())),
    setResponseHeaders: lower(spec.set_response_headers),
    timeoutMs: spec.timeout ?? DEFAULTS.route.timeoutMs,
    idleTimeoutMs: spec.idle_timeout ?? DEFAULTS.route.idleTimeoutMs,
    websocketIdleTimeoutMs: spec.idle_timeout ?? DEFAULTS.route.websocketIdleTimeoutMs,
    allowWebsockets: spec.allow_websockets ?? DEFAULTS.route.allowWebsockets,
    tls: Object.freeze({ skipVerify: spec.tls_skip_verify ?? DEFAULTS.route.tlsSkipVerify, serverName: spec.tls_server_name, ca, caFile }),
    passIdentityHeaders: spec.pass_identity_headers ?? DEFAULTS.route.passIdentityHeaders,
    idp: spec.idp,
    explanation: spec.explanation,
    remediation: spec.remediation,
    balancing: balancingOf(spec.load_balancing_policy),
    healthCheck: healthCheckOf(spec.health_checks?.[0]),
    maxBodyBytes: spec.max_body_size,
    policy: new Policy([...(spec.policy ?? []), ...legacyRules(spec, `${at.path} (legacy allow fields)`)]),
  }
  return Object.freeze(route)
}
