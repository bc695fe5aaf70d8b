// The steps every request takes before anything is forwarded, shared by ordinary
// requests and websocket upgrades so the two can never be judged differently.

import type { IncomingHttpHeaders } from 'node:http'
import type { ErrorCode } from '../errors.js'
import { parseHost } from '../routes/host.js'
import { normalizeTarget } from '../routes/normalize.js'
import type { Route } from '../routes/route.js'
import type { RouteTable } from '../routes/table.js'
import { authorize } from './authorize.js'

export type Refusal = { readonly ok: false; readonly code: ErrorCode; readonly detail?: string }
export type RouteResolution = { readonly ok: true; readonly route: Route } | Refusal
export type Resolution = { readonly ok: true; readonly route: Route; readonly path: string; readonly query: string } | Refusal

/** Host, route and access decision for an already normalised path. */
export function resolveRoute(table: RouteTable, headers: IncomingHttpHeaders, path: string): RouteResolution {
  const host = parseHost(headers.host)
  if (!host) return { ok: false, code: 'GH_ERR_BAD_HOST' }
  const route = table.find(host.hostname, host.port, path)
  // No route means 404, never a default upstream: unknown hosts and paths go nowhere.
  if (!route) return { ok: false, code: 'GH_ERR_NO_ROUTE' }
  const decision = authorize(route)
  if (decision !== 'allow') return { ok: false, code: decision === 'sign_in' ? 'GH_ERR_UNAUTHENTICATED' : 'GH_ERR_FORBIDDEN' }
  return { ok: true, route }
}

/** Normalisation, then resolveRoute: for requests that bypass the HTTP router (upgrades). */
export function resolveRequest(table: RouteTable, headers: IncomingHttpHeaders, target: string): Resolution {
  const normalized = normalizeTarget(target)
  if (!normalized.ok) return normalized
  const resolved = resolveRoute(table, headers, normalized.path)
  return resolved.ok ? { ok: true, route: resolved.route, path: normalized.path, query: normalized.query } : resolved
}
