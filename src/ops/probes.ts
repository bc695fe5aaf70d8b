// Liveness and readiness probes, answered before routing and on every host, so load
// balancers and Kubernetes can probe any name the proxy serves.

import type { FastifyInstance } from 'fastify'
import { PROBE_PATHS } from '../http/endpoints.js'

export interface ReadinessCheck {
  /** Undefined when ready, else a short reason. */
  (): string | undefined
}

export function registerProbes(app: FastifyInstance, checks: Record<string, ReadinessCheck>): void {
  const ok = (_req: unknown, reply: import('fastify').FastifyReply) => reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('OK')
  app.get(PROBE_PATHS.ping, ok)
  app.get(PROBE_PATHS.healthz, ok)
  app.get(PROBE_PATHS.readyz, (_req, reply) => {
    const results: Record<string, string> = {}
    let ready = true
    for (const [name, check] of Object.entries(checks)) {
      const problem = check()
      results[name] = problem ?? 'ok'
      if (problem) ready = false
    }
    reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ready' : 'not ready', checks: results })
  })
}
