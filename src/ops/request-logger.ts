// A request's logger (it carries request_id), made only when something is logged. Most
// forwarded requests log nothing of their own (their access line comes from
// access-log.ts), and building a pino child for each costs more than the policy decision.

import type { FastifyBaseLogger } from 'fastify'

/** Answered from the parent, without making the child: asking whether a level is on. */
const FROM_PARENT = new Set<string | symbol>(['level', 'isLevelEnabled'])

export function requestLogger(parent: FastifyBaseLogger, requestId: string): FastifyBaseLogger {
  let child: FastifyBaseLogger | undefined
  return new Proxy(parent, {
    get(target, prop) {
      const from = FROM_PARENT.has(prop) ? target : (child ??= target.child({ request_id: requestId }))
      const value = Reflect.get(from, prop) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(from) : value
    },
  })
}
