// The decision log: one structured line per policy decision.

import type { FastifyBaseLogger } from 'fastify'
import type { Decision, PolicyInput } from '../policy/index.js'
import type { Route } from '../routes/route.js'

export const AUTHORIZE_LOG_FIELDS = ['route', 'method', 'host', 'path', 'ip', 'user', 'email', 'groups', 'verdict', 'reasons', 'rule'] as const
export type AuthorizeLogField = (typeof AUTHORIZE_LOG_FIELDS)[number]
export const DEFAULT_AUTHORIZE_LOG_FIELDS: readonly AuthorizeLogField[] = [
  'route',
  'method',
  'host',
  'path',
  'ip',
  'user',
  'email',
  'verdict',
  'reasons',
  'rule',
]

/** One line per decision, with the fields the operator chose (authorize_log_fields).
 *  `log` is the request's logger, which already carries request_id on every line. */
export function logDecision(log: FastifyBaseLogger, fields: readonly AuthorizeLogField[], route: Route, input: PolicyInput, decision: Decision): void {
  // Nothing is built for a line nobody writes.
  if (fields.length === 0 || !(log as { isLevelEnabled?(level: string): boolean }).isLevelEnabled?.('info')) return
  const line: Record<string, unknown> = {}
  for (const field of fields) {
    switch (field) {
      case 'route':
        line.route = route.id
        break
      case 'method':
        line.method = input.request.method
        break
      case 'host':
        line.host = input.request.host
        break
      case 'path':
        line.path = input.request.path
        break
      case 'ip':
        line.ip = input.request.sourceIp
        break
      case 'user':
        line.user = input.user?.id
        break
      case 'email':
        line.email = input.user?.email
        break
      case 'groups':
        line.groups = input.user?.groups
        break
      case 'verdict':
        line.verdict = decision.verdict
        break
      case 'reasons':
        line.reasons = decision.reasons
        break
      case 'rule':
        line.rule = decision.rule?.label
        break
    }
  }
  log.info(line, 'authorize')
}
