// Active health checks: each member of a route with `health_checks` is asked for the
// check path every interval; enough failures in a row take it out, enough successes
// bring it back (the thresholds). Checks run off the request path and stop on reload.

import type { HealthCheck } from '../routes/route.js'
import type { RouteUpstreams } from './balancer.js'

/** Starts checking every member of `upstreams`; returns the function that stops it. */
export function startHealthChecks(upstreams: RouteUpstreams, check: HealthCheck): () => void {
  let stopped = false
  const probe = async () => {
    await Promise.all(
      upstreams.members.map(async (member) => {
        let ok: boolean
        try {
          const response = await member.pool.request({
            path: check.path,
            method: 'GET',
            headers: { host: member.target.host, 'user-agent': 'Gatehouse health check' },
            headersTimeout: check.timeoutMs,
            bodyTimeout: check.timeoutMs,
            ...(member.servername ? ({ servername: member.servername } as object) : {}),
          })
          await response.body.dump()
          ok = response.statusCode >= 200 && response.statusCode < 400
        } catch {
          ok = false
        }
        if (!stopped) member.checked(ok, check)
      }),
    )
  }
  void probe()
  const timer = setInterval(() => void probe(), check.intervalMs)
  timer.unref()
  return () => {
    stopped = true
    clearInterval(timer)
  }
}
