// The one road every request takes, whatever brought it: a proxied HTTP request, a
// websocket handshake, or a forward-auth call describing a request another proxy is
// about to serve. route -> session (cleared when bad, refused when its IdP is gone,
// refreshed when due) -> decision (logged, counted) -> outcome. Adapters in http.ts,
// websocket.ts and forward-auth.ts only describe the request and render the outcome.
//
// The common case (no session, or a cached one that needs no refresh) runs without an
// await and without a closure; only a store that must go to the network or a due
// refresh makes it asynchronous.

import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { refreshSession, needsRefresh } from '../auth/refresh.js'
import type { ProviderRegistry } from '../auth/registry.js'
import { isHttpLoopback } from '../http/loopback.js'
import { clientAddress } from '../http/request.js'
import type { Metrics } from '../ops/metrics.js'
import { parseHost, type RequestHost } from '../routes/host.js'
import type { Route } from '../routes/route.js'
import { parseCookies, type CookieMap } from '../session/cookies.js'
import { isPromise, type MaybePromise, type Session, type SessionLookup } from '../session/store.js'
import { authorize } from './authorize.js'
import type { ClientLimit } from './client-limit.js'
import { outcomeFor, refusal, type Outcome } from './outcome.js'
import type { Runtime } from './runtime.js'

/** A request as the pipeline judges it. */
export interface Exchange {
  /** The request that arrived: its cookies, client address and CORS headers. */
  readonly req: IncomingMessage
  /** The method, Host, path and query judged: the request's own, or for forward-auth the
   *  request its caller describes. The path is already normalised. */
  readonly method: string
  readonly host: string | undefined
  readonly path: string
  readonly query: string
  /** The scheme the browser used. */
  readonly scheme: 'http' | 'https'
  /** The request's logger (it carries request_id). */
  readonly log: FastifyBaseLogger
}

export interface PipelineDeps {
  /** The newest runtime; each exchange takes it once, when it starts. */
  runtime(): Runtime
  readonly providers: ProviderRegistry
  readonly metrics: Metrics | undefined
  /** What each client holds open; the adapters take a slot per forward or tunnel. */
  readonly clientLimit: ClientLimit
}

/** What the steps share, made once per exchange. */
interface Step {
  readonly deps: PipelineDeps
  readonly runtime: Runtime
  readonly ex: Exchange
  readonly host: RequestHost
  readonly route: Route
  readonly origin: string
  readonly cookies: CookieMap
}

export function runPipeline(deps: PipelineDeps, ex: Exchange): MaybePromise<Outcome> {
  const runtime = deps.runtime()
  const host = parseHost(ex.host)
  if (!host) return refusal('GH_ERR_BAD_HOST')
  const route = runtime.table.find(host.hostname, host.port, ex.path)
  // No route means 404, never a default upstream: unknown hosts and paths go nowhere.
  if (!route)
    return refusal('GH_ERR_NO_ROUTE', `Gatehouse serves nothing at ${ex.host!.toLowerCase()}${ex.path.length > 200 ? `${ex.path.slice(0, 200)}…` : ex.path}`)
  const step: Step = { deps, runtime, ex, host, route, origin: `${ex.scheme}://${ex.host!.toLowerCase()}`, cookies: parseCookies(ex.req.headers.cookie) }
  const found = runtime.sessions.get(step.cookies)
  return isPromise(found)
    ? found.then(
        (f) => withSession(step, f),
        (err) => storeFailed(step, err),
      )
    : withSession(step, found)
}

function withSession(step: Step, found: SessionLookup): MaybePromise<Outcome> {
  if (found === 'none') return decide(step, undefined, undefined)
  // A session cookie that does not open (tampered, expired, an old key), or a session
  // from an IdP no longer configured (which can no longer vouch for it), is cleared, so
  // the browser stops sending it; the request goes on without a session.
  if (found === 'invalid' || !step.runtime.config.idpIds.has(found.data.idp)) return clearSession(step)
  if (!needsRefresh(found)) return decide(step, found, undefined)
  // Rare (about once per access-token lifetime): the only await on the common path.
  return refreshSession(found, {
    store: step.runtime.sessions,
    providers: step.deps.providers,
    cookies: step.cookies,
    httpLoopback: isHttpLoopback(step.origin),
    log: step.ex.log,
  }).then(
    (refreshed) => decide(step, refreshed.session, refreshed.setCookies),
    (err) => storeFailed(step, err),
  )
}

function clearSession(step: Step): MaybePromise<Outcome> {
  const cleared = step.runtime.sessions.delete(step.cookies, { httpLoopback: isHttpLoopback(step.origin) })
  return isPromise(cleared)
    ? cleared.then(
        (c) => decide(step, undefined, c),
        (err) => storeFailed(step, err),
      )
    : decide(step, undefined, cleared)
}

/** A store that cannot answer fails closed: the request is judged without a session,
 *  so public routes keep working, and what would need a user gets 503 instead of a
 *  sign-in that could not be kept either. */
function storeFailed(step: Step, err: unknown): Outcome {
  step.ex.log.error({ err: { message: (err as Error)?.message } }, 'the session store failed')
  const outcome = decide(step, undefined, undefined)
  return outcome.kind === 'sign_in' ? refusal('GH_ERR_SESSION_STORE_UNAVAILABLE', 'sessions cannot be read right now; try again shortly', step.route) : outcome
}

function decide(step: Step, session: Session | undefined, setCookies: readonly string[] | undefined): Outcome {
  const { ex, route } = step
  if (session !== undefined) step.deps.metrics?.sawSession(session.data.sid)
  const client = clientAddress(ex.req, step.runtime.config.isTrustedProxy)
  const decision = authorize({
    runtime: step.runtime,
    req: ex.req,
    route,
    method: ex.method,
    hostname: step.host.hostname,
    client,
    path: ex.path,
    user: session?.user,
    log: ex.log,
    metrics: step.deps.metrics,
  })
  return outcomeFor(decision.verdict, {
    runtime: step.runtime,
    route,
    session,
    setCookies: setCookies !== undefined && setCookies.length > 0 ? setCookies : undefined,
    audience: step.host.hostname,
    client,
    origin: step.origin,
    returnTo: step.origin + ex.path + ex.query,
  })
}
