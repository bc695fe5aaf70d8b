// Prometheus metrics, served on their own address (metrics_address) so they are never
// reachable through a route.

import http, { type Server } from 'node:http'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import type { ListenAddress } from '../types.js'

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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' })
  }

  /** Serves GET /metrics; anything else is 404. */
  async listen(address: ListenAddress): Promise<Server> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end()
        return
      }
      this.registry.metrics().then(
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
