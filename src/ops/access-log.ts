// One access-log line and one set of request metrics per exchange, whoever answered it:
// the proxy, Gatehouse's own endpoints, forward-auth, the callback, or a websocket
// handshake. HTTP requests are observed on the server itself, so no handler can forget.

import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { Logger } from 'pino'
import type { Metrics } from './metrics.js'

const ROUTE = Symbol('gatehouse.route')
const REQUEST_ID = Symbol('gatehouse.requestId')
type Labelled = { [ROUTE]?: string }
type Identified = IncomingMessage & { [REQUEST_ID]?: string }

/** Names the route that served a response, for its access line and metrics. */
export function labelExchange(res: ServerResponse, routeId: string): void {
  ;(res as ServerResponse & Labelled)[ROUTE] = routeId
}

/** Remembers the request id given to a request, for its access line. */
export function identifyRequest(req: IncomingMessage, id: string): string {
  ;(req as Identified)[REQUEST_ID] = id
  return id
}

/** The request id given to a request, if any yet. */
export const requestIdOf = (req: IncomingMessage): string | undefined => (req as Identified)[REQUEST_ID]

export interface ExchangeRecord {
  readonly transport: 'http' | 'websocket'
  readonly requestId: string | undefined
  readonly method: string | undefined
  readonly host: string | undefined
  readonly url: string | undefined
  readonly route: string | undefined
  readonly status: number
  readonly ms: number
}

export class AccessLog {
  constructor(
    private readonly log: () => FastifyBaseLogger,
    private readonly metrics: Metrics | undefined,
  ) {}

  record(r: ExchangeRecord): void {
    const route = r.route ?? '-'
    if (this.metrics) {
      this.metrics.requests.inc({ route, code: r.status })
      this.metrics.duration.observe({ route }, r.ms / 1000)
    }
    const log = this.log()
    if ((log as Logger).isLevelEnabled('info')) {
      const path = r.url === undefined ? undefined : r.url.split('?', 1)[0]
      log.info(
        { request_id: r.requestId, transport: r.transport, method: r.method, host: r.host, path, route: r.route, status: r.status, ms: Math.round(r.ms) },
        'request',
      )
    }
  }

  /** Observes every response of an HTTP server from its start to its last byte. */
  observe(server: Server): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // Nothing to record (no metrics, logs above info): nothing is allocated either.
      if (this.metrics === undefined && !(this.log() as Logger).isLevelEnabled('info')) return
      const started = performance.now()
      res.once('finish', () => {
        this.record({
          transport: 'http',
          requestId: (req as Identified)[REQUEST_ID],
          method: req.method,
          host: req.headers.host,
          url: req.url,
          route: (res as ServerResponse & Labelled)[ROUTE],
          status: res.statusCode,
          ms: performance.now() - started,
        })
      })
    })
  }
}
