// Prometheus metrics, served on their own address (metrics_address) so they are never
// reachable through a route.

import http, { type Server } from 'node:http'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ListenAddress } from '../types.js'

const ACTIVE_WINDOW_MS = 5 * 60_000
const MAX_TRACKED_SESSIONS = 100_000

export class Metrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'gatehouse_requests_total',
    help: 'Requests answered, by route and status code',
    labelNames: ['route', 'code'] as const,
    registers: [this.registry],
  })
  readonly duration = new Histogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from request to the end of the response, by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly decisions = new Counter({
    name: 'gatehouse_authorize_decisions_total',
    help: 'Policy decisions, by route and verdict',
    labelNames: ['route', 'verdict'] as const,
    registers: [this.registry],
  })

  readonly upstreamErrors = new Counter({
    name: 'gatehouse_upstream_errors_total',
    help: 'Upstream requests that failed (refused, reset, timed out), by route and error code',
    labelNames: ['route', 'code'] as const,
    registers: [this.registry],
  })
  readonly signIns = new Counter({
    name: 'gatehouse_sign_ins_total',
    help: 'Sign-ins completed or refused at the callback, by IdP and result',
    labelNames: ['idp', 'result'] as const,
    registers: [this.registry],
  })
  readonly signOuts = new Counter({
    name: 'gatehouse_sign_outs_total',
    help: 'Sessions ended by the user signing out, by IdP',
    labelNames: ['idp'] as const,
    registers: [this.registry],
  })
  readonly reloads = new Counter({
    name: 'gatehouse_config_reloads_total',
    help: 'Configuration reloads, by result (applied or rejected)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })
  readonly storeDuration = new Histogram({
    name: 'gatehouse_session_store_duration_seconds',
    help: 'Time the session store (Redis) took to answer a read',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })
  /** Sessions that made a request in the last ACTIVE_WINDOW_MS, per replica. */
  private readonly recentSessions = new Map<string, number>()

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' })
    const recent = this.recentSessions
    new Gauge({
      name: 'gatehouse_sessions_active',
      help: 'Sessions that made a request in the last 5 minutes, on this replica',
      registers: [this.registry],
      collect() {
        const since = Date.now() - ACTIVE_WINDOW_MS
        for (const [sid, seen] of recent) if (seen < since) recent.delete(sid)
        this.set(recent.size)
      },
    })
  }

  /** Counts a session as active (bounded, so a flood of sessions cannot grow it). */
  sawSession(sid: string): void {
    if (this.recentSessions.size < MAX_TRACKED_SESSIONS || this.recentSessions.has(sid)) this.recentSessions.set(sid, Date.now())
  }

  /** Gauges read from the running app at each scrape: open websockets, upstream health,
   *  whether the session store can serve. */
  watch(state: { websockets(): number; upstreams(): Iterable<[string, string, boolean]>; storeUp(): boolean }): void {
    new Gauge({
      name: 'gatehouse_websockets_open',
      help: 'Websocket tunnels open now',
      registers: [this.registry],
      collect() {
        this.set(state.websockets())
      },
    })
    new Gauge({
      name: 'gatehouse_upstream_healthy',
      help: 'Whether an upstream member gets traffic (1) or is out (0), by route and upstream',
      labelNames: ['route', 'upstream'] as const,
      // With workers, each keeps its own health view: out on any one counts as out.
      aggregator: 'min',
      registers: [this.registry],
      collect() {
        this.reset()
        for (const [route, upstream, healthy] of state.upstreams()) this.set({ route, upstream }, healthy ? 1 : 0)
      },
    })
    new Gauge({
      name: 'gatehouse_session_store_up',
      help: 'Whether the session store can serve (1) or not (0)',
      aggregator: 'min',
      registers: [this.registry],
      collect() {
        this.set(state.storeUp() ? 1 : 0)
      },
    })
  }

  /** Serves GET /metrics; anything else is 404. `text` is what a scrape gets: this
   *  registry, or with workers the sum over every process of the run. */
  async listen(address: ListenAddress, text: () => Promise<string> = () => this.registry.metrics()): Promise<Server> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end()
        return
      }
      text().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      )
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(address.port, address.host, () => resolve())
    })
    return server
  }
}
