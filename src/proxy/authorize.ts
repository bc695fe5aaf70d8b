// The policy decision for one exchange: the engine's plain input built from the request,
// evaluated, and written to the decision log and metrics. The engine itself stays pure.

import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { logDecision } from '../ops/decision-log.js'
import type { Metrics } from '../ops/metrics.js'
import type { Decision, PolicyInput, PreparedUser } from '../policy/index.js'
import type { Route } from '../routes/route.js'
import type { Runtime } from './runtime.js'

export interface AuthorizeInput {
  readonly runtime: Runtime
  readonly req: IncomingMessage
  readonly route: Route
  /** The method judged: the request's own, or the one a forward-auth caller describes. */
  readonly method: string
  readonly hostname: string
  /** The client's address (see http/request.ts clientAddress). */
  readonly client: string
  /** The normalised path. */
  readonly path: string
  readonly user: PreparedUser | undefined
  readonly log: FastifyBaseLogger
  readonly metrics: Metrics | undefined
}

export function policyInput(a: AuthorizeInput): PolicyInput {
  const { req } = a
  const requestMethod = req.headers['access-control-request-method']
  return {
    request: {
      method: a.method,
      path: a.path,
      host: a.hostname,
      sourceIp: a.client,
      time: Date.now(),
      origin: req.headers.origin,
      accessControlRequestMethod: typeof requestMethod === 'string' ? requestMethod : undefined,
    },
    user: a.user,
  }
}

export function authorize(a: AuthorizeInput): Decision {
  const input = policyInput(a)
  const decision = a.route.policy.evaluate(input)
  logDecision(a.log, a.runtime.config.authorizeLogFields, a.route, input, decision)
  a.metrics?.decisions.inc({ route: a.route.id, verdict: decision.verdict })
  return decision
}
