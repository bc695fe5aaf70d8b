// A route as the proxy uses it: every field parsed, defaulted and frozen at load, so
// the request path only reads plain properties.

import type { RE2JS } from 're2js'
import type { Policy } from '../policy/index.js'
import type { Location, RouteOrigin, UpstreamTarget } from '../types.js'

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

export type Balancing = 'round_robin' | 'least_request' | 'random' | 'sticky_session'

export interface HealthCheck {
  readonly path: string
  readonly intervalMs: number
  readonly timeoutMs: number
  /** Consecutive successes that bring a member back. */
  readonly healthyThreshold: number
  /** Consecutive failures that take a member out. */
  readonly unhealthyThreshold: number
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
  /** Shown on this route's 403 page: why access is limited, and where to ask for it. */
  readonly explanation: string | undefined
  readonly remediation: string | undefined
  /** An identity provider this route signs users in with, skipping the chooser. */
  readonly idp: string | undefined
  /** How a request picks among several `to`. */
  readonly balancing: Balancing
  /** Active health checks of every `to`; undefined: none (passive ejection only). */
  readonly healthCheck: HealthCheck | undefined
}

/** A literal piece of a header value, or the name of a per-session value. */
export type TemplatePart = string | { readonly token: IdentityToken }
export type IdentityToken = 'jwt' | 'id_token' | 'access_token'

/** Two routes with the same host and path matcher would make one unreachable. */
export function routeIdentity(route: Route): string {
  return `${route.hostKey} ${route.match.kind} ${route.match.value}`
}
