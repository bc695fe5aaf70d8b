// Keep-alive connection pools to upstreams, shared by every route that reaches the same
// origin with the same TLS settings, and kept across config reloads so a reload never
// drops a warm pool or a request in flight.

import { isIP } from 'node:net'
import { Pool } from 'undici'
import type { UpstreamTarget } from '../types.js'
import { RouteUpstreams, Upstream } from './balancer.js'
import { startHealthChecks } from './health.js'
import type { Route, UpstreamTls } from '../routes/route.js'

/** Bounds sockets per upstream so a traffic spike cannot exhaust file descriptors. */
const MAX_CONNECTIONS_PER_UPSTREAM = 1024
const CONNECT_TIMEOUT_MS = 10_000
const KEEP_ALIVE_MS = 4_000
/** undici writes each request-body chunk between cork() and uncork(), so write() counts
 *  the chunk as buffered even though uncork() sends it at once. At undici's own 64 KiB,
 *  every 64 KiB chunk Node's HTTP server reads then reports backpressure, and the client's
 *  body is paused and resumed once per chunk: about a third of the proxy's user CPU on
 *  a large upload. One byte more lets a chunk into an empty socket through; a second chunk
 *  behind one the kernel has not taken still waits for 'drain'. */
const PLAIN_SOCKET_HIGH_WATER_MARK = 64 * 1024 + 1

function tlsServerName(target: UpstreamTarget, tls: UpstreamTls): string | undefined {
  if (target.protocol !== 'https:') return undefined
  return tls.serverName ?? (isIP(target.hostname) ? undefined : target.hostname)
}

function poolKey(target: UpstreamTarget, tls: UpstreamTls): string {
  if (target.protocol === 'http:') return target.origin
  return `${target.origin}|${tls.skipVerify ? 'insecure' : 'verify'}|${tls.serverName ?? ''}|${tls.caFile ?? ''}|${tls.ca?.length ?? 0}`
}

export class UpstreamPools {
  private pools = new Map<string, Pool>()
  /** Members by route and pool, so a reload keeps what is known of their health. */
  private members = new Map<string, Upstream>()
  /** The running health checks of the current config's routes. */
  private stopChecks: (() => void)[] = []

  /** Builds the per-route upstream sets for a config, reusing pools that still fit and
   *  closing (gracefully, after their in-flight requests) those no route needs. */
  build(routes: readonly Route[]): Map<Route, RouteUpstreams> {
    const next = new Map<string, Pool>()
    const nextMembers = new Map<string, Upstream>()
    const byRoute = new Map<Route, RouteUpstreams>()
    for (const route of routes) {
      const members = route.upstreams.map((target) => {
        const key = poolKey(target, route.tls)
        let pool = next.get(key) ?? this.pools.get(key)
        if (!pool) pool = createPool(target, route.tls)
        next.set(key, pool)
        const memberKey = `${route.id}\n${key}\n${target.weight}`
        const kept = this.members.get(memberKey)
        const member = kept?.pool === pool ? kept : new Upstream(target, pool, tlsServerName(target, route.tls))
        nextMembers.set(memberKey, member)
        return member
      })
      byRoute.set(route, new RouteUpstreams(members, route.balancing))
    }
    // A reload starts the new config's checks and stops the old ones.
    for (const stop of this.stopChecks) stop()
    this.stopChecks = []
    for (const [route, upstreams] of byRoute) if (route.healthCheck) this.stopChecks.push(startHealthChecks(upstreams, route.healthCheck))
    for (const [key, pool] of this.pools) if (!next.has(key)) void pool.close().catch(() => {})
    this.pools = next
    this.members = nextMembers
    return byRoute
  }

  async close(): Promise<void> {
    for (const stop of this.stopChecks) stop()
    this.stopChecks = []
    const pools = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())))
  }
}

function createPool(target: UpstreamTarget, tls: UpstreamTls): Pool {
  return new Pool(target.origin, {
    connections: MAX_CONNECTIONS_PER_UPSTREAM,
    pipelining: 1,
    keepAliveTimeout: KEEP_ALIVE_MS,
    connect: {
      timeout: CONNECT_TIMEOUT_MS,
      // TLS keeps undici's 16 KiB: its write path was not measured.
      ...(target.protocol === 'http:' ? { highWaterMark: PLAIN_SOCKET_HIGH_WATER_MARK } : {}),
      // tls_skip_verify exists for self-signed internal apps (Kasm ships one); it is
      // per route and off by default.
      rejectUnauthorized: !tls.skipVerify,
      ...(tls.serverName ? { servername: tls.serverName } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
    },
  })
}
