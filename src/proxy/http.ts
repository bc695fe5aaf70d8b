// The HTTP adapter: an ordinary request, already admitted and normalised (see admit.ts
// and app.ts's rewriteUrl), is described to the pipeline and its outcome rendered: a
// forward streams to the upstream, anything else is answered here.

import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { replyError } from '../http/answers.js'
import { requestScheme } from '../http/request.js'
import { labelExchange } from '../ops/access-log.js'
import { isPromise, type MaybePromise } from '../session/store.js'
import { holdSlot } from './client-limit.js'
import { forward } from './forward.js'
import type { Outcome, Refusal } from './outcome.js'
import type { Normalized } from '../routes/normalize.js'
import { runPipeline, type PipelineDeps } from './pipeline.js'
import { isNavigation, replyRefusal, replySignIn } from './render.js'

/** What direct.ts found before handing a request to fastify: the admission of its
 *  target (app.ts's rewriteUrl reuses it rather than normalising twice) and, once
 *  judged, its outcome (rendered here rather than judged again). */
export const ADMITTED = Symbol('gatehouse.admitted')
export const DECIDED = Symbol('gatehouse.decided')
/** A request target admit.ts refused: kept on the request for this handler to answer. */
export const REFUSED_TARGET = Symbol('gatehouse.refusedTarget')
export type Carried = IncomingMessage & {
  [ADMITTED]?: Normalized
  [DECIDED]?: Outcome
  [REFUSED_TARGET]?: Pick<Refusal, 'code' | 'detail'>
}
/** TRACE echoes the request, cookies included, back to the caller (cross-site tracing);
 *  CONNECT would turn the proxy into a tunnel to anywhere. */
export const REFUSED_METHODS = new Set(['TRACE', 'CONNECT'])

/** The pipeline's verdict on an ordinary request, its target already normalised: the
 *  one description of a request both the direct path and fastify's handler use. */
export function judgeRequest(deps: PipelineDeps, req: IncomingMessage, path: string, query: string, log: FastifyBaseLogger): MaybePromise<Outcome> {
  return runPipeline(deps, {
    req,
    method: req.method!,
    host: req.headers.host,
    path,
    query,
    scheme: requestScheme(req, deps.runtime().config.isTrustedProxy),
    log,
  })
}

export function proxyHandler(deps: PipelineDeps) {
  const render = (request: FastifyRequest, reply: FastifyReply, outcome: Outcome, path: string, query: string) => {
    if (outcome.route) labelExchange(reply.raw, outcome.route.id)
    switch (outcome.kind) {
      case 'sign_in':
        return replySignIn(reply, outcome, isNavigation(request.raw))
      case 'refuse':
        return replyRefusal(reply, outcome)
      case 'forward': {
        if (!holdSlot(deps.clientLimit, outcome, reply.raw)) return replyError(reply, 'GH_ERR_TOO_MANY_REQUESTS')
        reply.hijack()
        forward({ outcome, req: request.raw, res: reply.raw, path, query, requestId: request.id, log: request.log, metrics: deps.metrics })
        return reply
      }
    }
  }

  return (request: FastifyRequest, reply: FastifyReply) => {
    const req = request.raw
    const refused = (req as Carried)[REFUSED_TARGET]
    if (refused) return replyError(reply, refused.code, { detail: refused.detail })
    if (REFUSED_METHODS.has(req.method!)) return replyError(reply, 'GH_ERR_METHOD_NOT_ALLOWED')
    const url = req.url!
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const query = q === -1 ? '' : url.slice(q)
    const outcome = (req as Carried)[DECIDED] ?? judgeRequest(deps, req, path, query, request.log)
    if (isPromise(outcome)) return outcome.then((o) => render(request, reply, o, path, query))
    return render(request, reply, outcome, path, query)
  }
}
