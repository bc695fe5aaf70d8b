// Streams a request to its upstream and the answer back, never buffering a body whole.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { util, type Dispatcher } from 'undici'
import { Transform } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { GatehouseError } from '../errors.js'
import type { FastifyBaseLogger } from 'fastify'
import type { Route } from '../routes/route.js'
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardContext } from './headers.js'
import { sendError } from '../http/answers.js'
import type { Metrics } from '../ops/metrics.js'
import type { Upstream } from '../upstream/balancer.js'
import type { Forward } from './outcome.js'

/** The path the upstream receives: the normalised one, with the matched prefix swapped
 *  for prefix_rewrite when set. */
export function upstreamPath(route: Route, path: string): string {
  if (route.prefixRewrite === undefined || route.match.kind === 'regex') return path
  const rest = path.slice(route.match.value.length)
  const rewrite = route.prefixRewrite
  const joined = rewrite.endsWith('/') && rest.startsWith('/') ? rewrite + rest.slice(1) : rewrite + rest
  return joined || '/'
}

/** A chunked body counted as it streams: past the limit, the stream fails, the upstream
 *  request is aborted and the client gets 413. */
function bounded(body: IncomingMessage, limit: number): Transform {
  let seen = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen > limit) done(new GatehouseError('GH_ERR_BODY_TOO_LARGE', `at most ${limit} bytes`))
      else done(null, chunk)
    },
  })
  body.on('error', (err) => counter.destroy(err))
  return body.pipe(counter)
}

/** What the header builder needs to know about one forward. */
export function forwardContext(outcome: Forward, req: IncomingMessage, requestId: string, upstreamHost: string): ForwardContext {
  const { runtime, session } = outcome
  const { config } = runtime
  const peerAddress = req.socket.remoteAddress ?? ''
  return {
    route: outcome.route,
    peerAddress,
    trusted: config.isTrustedProxy(peerAddress),
    proto: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
    requestId,
    upstreamHost,
    identity: config.identity,
    sessionCookieName: config.session.cookieName,
    session: session && { data: session.data, assertion: config.identity.signer.assertion(session.data, outcome.audience) },
  }
}

/** The socket timed out: cut the response if the client stopped reading it; a quiet
 *  upstream (long polling, events) is not the client's fault. */
function cutStalledResponse(this: ServerResponse): void {
  if (this.writableNeedDrain) this.destroy()
}

/** The upstream was never reached: safe to try another member. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])
/** Methods whose repetition changes nothing (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

export interface ForwardRequest {
  readonly outcome: Forward
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** The normalised path and the query, as judged. */
  readonly path: string
  readonly query: string
  readonly requestId: string
  readonly log: FastifyBaseLogger
  readonly metrics: Metrics | undefined
}

export function forward(request: ForwardRequest): void {
  const { outcome, req, res, requestId } = request
  const { runtime, route } = outcome
  // A refreshed or cleared session goes out with whatever answers: the upstream's, or
  // one of ours when it cannot be reached.
  if (outcome.setCookies) res.setHeader('set-cookie', outcome.setCookies)
  const limit = route.maxBodyBytes
  const declared = req.headers['content-length']
  // A declared length over the limit is refused before anything is sent upstream.
  if (limit !== undefined && declared !== undefined && Number(declared) > limit) {
    sendError(res, req.headers, runtime.config.pages, 'GH_ERR_BODY_TOO_LARGE', requestId, `at most ${limit} bytes`)
    return
  }
  // A client that stops reading would hold the upstream connection for as long as it
  // likes: once no byte has reached it for write_timeout while an answer waits, the
  // response is cut, which aborts the upstream request and frees its pool slot.
  const { writeTimeoutMs } = runtime.config.limits
  if (writeTimeoutMs > 0) res.setTimeout(writeTimeoutMs, cutStalledResponse)
  const first = runtime.upstreams.get(route)!.pick(outcome.session?.data.sid)
  if (first === undefined) {
    sendError(res, req.headers, runtime.config.pages, 'GH_ERR_NO_HEALTHY_UPSTREAM', requestId)
    return
  }
  new Relay(request).attempt(first)
}

/**
 * One forward, and undici's dispatch handler for it: the upstream's answer goes straight
 * into the client's response, with backpressure both ways. Lighter than `Pool.stream`
 * (no async resource, no stream wrapper per request), whose machinery was about 6% of a
 * forward's CPU time; its state lives in fields rather than in closures made per request.
 */
class Relay implements Dispatcher.DispatchHandler {
  private upstream!: Upstream
  private abort: ((err?: Error) => void) | undefined
  private resume: (() => void) | undefined
  private done = false
  /** Framing is decided by us, not copied: a body exists when the client declared one. */
  private readonly hasBody: boolean
  /** Nothing reached a member that refused the connection, so a request without a body
   *  may go to another member once; one with a body was consumed and cannot be replayed. */
  private mayRetry: boolean
  private readonly clientGone = () => {
    // The client left before the answer ended: the upstream request is abandoned too,
    // so its connection returns to the pool instead of streaming to nobody.
    if (!this.done) this.abort?.(new Error('the client closed the connection'))
  }

  constructor(private readonly f: ForwardRequest) {
    const { headers } = f.req
    this.hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')
    this.mayRetry = !this.hasBody && IDEMPOTENT.has(f.req.method!)
    f.res.once('close', this.clientGone)
  }

  attempt(upstream: Upstream): void {
    const { outcome, req, path, query, requestId } = this.f
    const { route } = outcome
    const limit = route.maxBodyBytes
    this.upstream = upstream
    this.done = false
    this.abort = undefined
    upstream.inFlight++
    // No abort signal: a client that leaves is noticed when its request body errors or
    // when undici writes to the closed response, and the upstream request is aborted
    // then. A per-request AbortController cost about 8% of the proxy's CPU time.
    upstream.pool.dispatch(
      {
        path: upstreamPath(route, path) + query,
        method: req.method as Dispatcher.HttpMethod,
        headers: upstreamRequestHeaders(req.headers, forwardContext(outcome, req, requestId, upstream.target.host), undefined),
        body: !this.hasBody ? null : limit !== undefined && req.headers['content-length'] === undefined ? bounded(req, limit) : req,
        headersTimeout: route.timeoutMs,
        bodyTimeout: route.idleTimeoutMs,
        // Per request, because undici prefers the Host header it sends over the pool's
        // connect options. (Supported by undici, missing from its types.)
        ...(upstream.servername ? ({ servername: upstream.servername } as object) : {}),
      },
      this,
    )
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.f.res.destroyed) abort(new Error('the client closed the connection'))
    this.abort = abort
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.resume = resume
    const { outcome, res, requestId } = this.f
    const headers = clientResponseHeaders(util.parseHeaders(rawHeaders) as IncomingHttpHeaders, {
      route: outcome.route,
      requestId,
      sessionCookieName: outcome.runtime.config.session.cookieName,
      personal: outcome.session !== undefined,
    })
    // Our own Set-Cookie (a refreshed or cleared session) goes out next to the app's;
    // writeHead would otherwise let the app's replace it.
    const ours = res.getHeader('set-cookie')
    if (ours !== undefined)
      headers['set-cookie'] = [
        ...([] as string[]).concat(ours as string | string[]),
        ...([] as string[]).concat((headers['set-cookie'] as string | string[] | undefined) ?? []),
      ]
    res.writeHead(statusCode, headers)
    return true
  }

  onData(chunk: Buffer): boolean {
    const { res } = this.f
    if (res.write(chunk)) return true
    res.once('drain', this.resume!)
    return false
  }

  onComplete(): void {
    this.finish()
    this.f.res.end()
  }

  onError(err: Error): void {
    this.finish()
    const { outcome, req, res, requestId, log, metrics } = this.f
    const { runtime, route } = outcome
    const { upstream } = this
    if (res.destroyed) return
    if (err instanceof GatehouseError && err.code === 'GH_ERR_BODY_TOO_LARGE') {
      sendError(res, req.headers, runtime.config.pages, 'GH_ERR_BODY_TOO_LARGE', requestId, err.message)
      req.resume()
      return
    }
    const code = (err as NodeJS.ErrnoException).code ?? ''
    log.warn({ err: { code, message: err.message }, route: route.id, upstream: upstream.target.origin }, 'upstream request failed')
    metrics?.upstreamErrors.inc({ route: route.id, code: code || 'error' })
    if (CONNECT_FAILURES.has(code)) {
      // Passive ejection: a member that refuses connections gets no traffic for a while.
      upstream.eject()
      const other = this.mayRetry && !res.headersSent ? runtime.upstreams.get(route)!.pick(outcome.session?.data.sid, upstream) : undefined
      if (other !== undefined) {
        this.mayRetry = false
        this.f.res.once('close', this.clientGone)
        return this.attempt(other)
      }
    }
    sendError(res, req.headers, runtime.config.pages, TIMEOUT_CODES.has(code) ? 'GH_ERR_UPSTREAM_TIMEOUT' : 'GH_ERR_UPSTREAM_UNAVAILABLE', requestId)
  }

  private finish(): void {
    this.done = true
    this.upstream.inFlight--
    this.f.res.off('close', this.clientGone)
  }
}
