// The way most requests take: a proxied request that the pipeline lets through is
// admitted, judged and forwarded straight from the server's request event, without
// fastify's per-request machinery (request and reply objects, hooks, router), which cost
// more than the whole policy decision. Everything else (Gatehouse's own endpoints,
// targets admit.ts refuses, sign-in redirects and refusals, a client over its limit)
// goes on to fastify carrying what was already found, so nothing is decided twice and
// every answer is still rendered in one place (http.ts, render.ts).

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { isOwnEndpointPath } from '../http/endpoints.js'
import { labelExchange } from '../ops/access-log.js'
import { requestLogger } from '../ops/request-logger.js'
import { isPromise } from '../session/store.js'
import { admitRequest } from './admit.js'
import { holdSlot } from './client-limit.js'
import { forward } from './forward.js'
import { ADMITTED, DECIDED, judgeRequest, REFUSED_METHODS, type Carried } from './http.js'
import type { Forward, Outcome } from './outcome.js'
import type { PipelineDeps } from './pipeline.js'

export interface DirectDeps {
  readonly pipeline: PipelineDeps
  readonly log: FastifyBaseLogger
  requestId(req: IncomingMessage): string
}

/** Handles `req` when it is a forward; otherwise calls `fallback` (fastify), now or once
 *  an asynchronous outcome is known. */
export function handleDirectly(deps: DirectDeps, req: IncomingMessage, res: ServerResponse, fallback: () => void): void {
  guarded(deps, res, fallback, () => handle(deps, req, res, fallback))
}

/** Runs `step`; nothing a client sends may end the process, so whatever goes wrong is
 *  answered by fastify's error handling (GH_ERR_INTERNAL), or the exchange is cut when
 *  its answer has already begun. */
function guarded(deps: DirectDeps, res: ServerResponse, fallback: () => void, step: () => void): void {
  try {
    step()
  } catch (err) {
    deps.log.error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'direct forwarding failed')
    if (res.headersSent) res.destroy()
    else fallback()
  }
}

function handle(deps: DirectDeps, req: IncomingMessage, res: ServerResponse, fallback: () => void): void {
  if (REFUSED_METHODS.has(req.method!)) return fallback()
  const admitted = admitRequest(req, deps.pipeline.runtime().config)
  ;(req as Carried)[ADMITTED] = admitted
  if (!admitted.ok || isOwnEndpointPath(admitted.path)) return fallback()
  const requestId = deps.requestId(req)
  const log = requestLogger(deps.log, requestId)
  const settle = (outcome: Outcome) => {
    if (outcome.kind === 'forward' && holdSlot(deps.pipeline.clientLimit, outcome, res)) return send(outcome)
    // Rendered by the fastify handler, from this very outcome.
    ;(req as Carried)[DECIDED] = outcome
    fallback()
  }
  const send = (outcome: Forward) => {
    // The target the pipeline judged is the one the access line names, as for fastify.
    req.url = admitted.path + admitted.query
    labelExchange(res, outcome.route.id)
    forward({ outcome, req, res, path: admitted.path, query: admitted.query, requestId, log, metrics: deps.pipeline.metrics })
  }
  const outcome = judgeRequest(deps.pipeline, req, admitted.path, admitted.query, log)
  if (isPromise(outcome)) {
    // The pipeline never rejects (a failing store becomes an outcome); should that ever
    // change, fastify answers rather than the request hanging.
    outcome.then(
      (o) => guarded(deps, res, fallback, () => settle(o)),
      () => fallback(),
    )
    return
  }
  settle(outcome)
}
