// The steps every request takes before anything is forwarded, shared by ordinary
// requests and websocket upgrades so the two can never be judged differently.

import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { ErrorCode } from '../errors.js'
import type { PreparedUser } from '../policy/index.js'
import { parseHost } from '../routes/host.js'
import { admitRequest } from './admit.js'
import type { Route } from '../routes/route.js'
import { logDecision } from '../ops/decision-log.js'
import { policyInput } from './authorize.js'
import type { Runtime } from './runtime.js'

export type Refusal = { readonly ok: false; readonly code: ErrorCode; readonly detail?: string; readonly route?: Route }
export type RouteResolution = { readonly ok: true; readonly route: Route } | Refusal
export type Resolution = { readonly ok: true; readonly route: Route; readonly path: string; readonly query: string } | Refusal

export interface ResolveContext {
  readonly runtime: Runtime
  /** The request's logger (it carries request_id). */
  readonly log: FastifyBaseLogger
  readonly user: PreparedUser | undefined
}

/** The request being judged when it is not `req` itself: forward-auth callers describe
 *  the original request in headers. */
export interface OriginalRequest {
  readonly method: string
  readonly host: string | undefined
}

/** Host, route and the route's policy decision for an already normalised path. */
export function resolveRoute(ctx: ResolveContext, req: IncomingMessage, path: string, original?: OriginalRequest): RouteResolution {
  const host = parseHost(original ? original.host : req.headers.host)
  if (!host) return { ok: false, code: 'GH_ERR_BAD_HOST' }
  const { config, table } = ctx.runtime
  const route = table.find(host.hostname, host.port, path)
  // No route means 404, never a default upstream: unknown hosts and paths go nowhere.
  if (!route) return { ok: false, code: 'GH_ERR_NO_ROUTE' }
  const input = policyInput(req, config, host.hostname, path, ctx.user, original?.method)
  const decision = route.policy.evaluate(input)
  logDecision(ctx.log, config.authorizeLogFields, route, input, decision)
  switch (decision.verdict) {
    case 'allow': return { ok: true, route }
    case 'sign_in': return { ok: false, code: 'GH_ERR_UNAUTHENTICATED', route }
    case 'deny': return { ok: false, code: 'GH_ERR_FORBIDDEN', route }
  }
}

/** Normalisation, then resolveRoute: for requests that bypass the HTTP router (upgrades). */
export function resolveRequest(ctx: ResolveContext, req: IncomingMessage): Resolution {
  const normalized = admitRequest(req, ctx.runtime.config)
  if (!normalized.ok) return normalized
  const resolved = resolveRoute(ctx, req, normalized.path)
  return resolved.ok ? { ok: true, route: resolved.route, path: normalized.path, query: normalized.query } : resolved
}
