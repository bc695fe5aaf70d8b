// The websocket adapter. Node hands upgrades to the server's 'upgrade' event, outside
// fastify's routing, so this adapter admits and normalises the request itself, then
// takes it through the same pipeline as any request before it dials anything. Only the
// last step differs: a tunnel instead of a forward.

import http, { STATUS_CODES, type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { ErrorCode } from '../errors.js'
import { writeSocketError } from '../http/answers.js'
import { requestScheme } from '../http/request.js'
import type { AccessLog } from '../ops/access-log.js'
import { parseHost } from '../routes/host.js'
import type { Revocations } from '../session/revocations.js'
import { isPromise, type Session } from '../session/store.js'
import { admitRequest } from './admit.js'
import { holdSlot } from './client-limit.js'
import { forwardContext, upstreamPath } from './forward.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import type { Forward, Outcome } from './outcome.js'
import { runPipeline, type PipelineDeps } from './pipeline.js'

export interface UpgradeDeps {
  readonly pipeline: PipelineDeps
  requestId(req: IncomingMessage): string
  readonly log: FastifyBaseLogger
  readonly accessLog: AccessLog
  /** Open tunnels, so shutdown can close them. */
  readonly tunnels: Set<Duplex>
  /** Where sign-outs and revocations are announced: a tunnel ends with its session. */
  readonly revocations: Revocations
}

/** setTimeout's longest delay; a session ending later is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Ends `close` when the session is signed out, revoked or expires; returns the undo. */
function endWithSession(revocations: Revocations, session: Session, close: () => void): () => void {
  const stopWatching = revocations.watch(session.data, close)
  let timer: NodeJS.Timeout
  const arm = () => {
    const left = session.exp * 1000 - Date.now()
    timer = setTimeout(left > MAX_TIMER_MS ? arm : close, Math.max(0, Math.min(left, MAX_TIMER_MS)))
    timer.unref()
  }
  arm()
  return () => {
    stopWatching()
    clearTimeout(timer)
  }
}

function headBlock(status: number, headers: Record<string, string | readonly string[] | number | undefined>): string {
  let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) out += `${name}: ${v}\r\n`
  }
  return out + '\r\n'
}

/** Compared as routing compares hosts: without case, trailing dot or default port. */
function isCrossSite(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return false
  const ours = parseHost(host)
  let theirs
  try {
    theirs = parseHost(new URL(origin).host)
  } catch {
    return true
  }
  return !ours || !theirs || ours.hostname !== theirs.hostname || ours.port !== theirs.port
}

/** One handshake, from the request to its answer (a refusal, a relayed answer, or 101). */
class Handshake {
  private readonly started = performance.now()
  private routeId: string | undefined
  private recorded = false
  /** The normalised path and the query, once admitted: what the upstream receives. */
  path = '/'
  query = ''

  constructor(
    private readonly deps: UpgradeDeps,
    readonly req: IncomingMessage,
    readonly socket: Duplex,
    readonly head: Buffer,
    readonly requestId: string,
    readonly log: FastifyBaseLogger,
  ) {}

  /** Writes the access line and metrics once, with the status the client got. */
  record(status: number): void {
    if (this.recorded) return
    this.recorded = true
    const { req } = this
    this.deps.accessLog.record({
      transport: 'websocket',
      requestId: this.requestId,
      method: req.method,
      host: req.headers.host,
      url: req.url,
      route: this.routeId,
      status,
      ms: performance.now() - this.started,
    })
  }

  refuse(code: ErrorCode, detail?: string, setCookies?: readonly string[], extra?: Record<string, unknown>): void {
    this.socket.resume() // discard what the client sends meanwhile
    this.record(writeSocketError(this.socket, code, this.requestId, { detail, setCookies, extra }))
  }

  render(outcome: Outcome): void {
    if (outcome.route) this.routeId = outcome.route.id
    switch (outcome.kind) {
      case 'sign_in':
        // A websocket cannot follow a redirect: the client learns where to sign in.
        return this.refuse('GH_ERR_UNAUTHENTICATED', undefined, outcome.setCookies, { sign_in_url: outcome.signInUrl })
      case 'refuse':
        return this.refuse(outcome.code, outcome.detail, outcome.setCookies)
      case 'forward':
        if (!outcome.route.allowWebsockets) return this.refuse('GH_ERR_WEBSOCKETS_DISABLED', undefined, outcome.setCookies)
        // Browsers send cookies with cross-site websocket handshakes (no CORS for them), so
        // a page on another site could drive a signed-in user's tunnel: refuse a
        // session-backed upgrade whose Origin is not the route's own host.
        if (outcome.session && isCrossSite(this.req.headers.origin, this.req.headers.host)) {
          return this.refuse('GH_ERR_FORBIDDEN', 'cross-site websocket handshakes are refused', outcome.setCookies)
        }
        if (!holdSlot(this.deps.pipeline.clientLimit, outcome, this.socket)) return this.refuse('GH_ERR_TOO_MANY_REQUESTS', undefined, outcome.setCookies)
        return this.tunnel(outcome)
    }
  }

  private tunnel(outcome: Forward): void {
    const { req, socket, head, requestId, deps } = this
    const { route, runtime } = outcome
    // The same pools, balancing and health as plain requests.
    const upstream = runtime.upstreams.get(route)!.pick(outcome.session?.data.sid)
    if (upstream === undefined) return this.refuse('GH_ERR_NO_HEALTHY_UPSTREAM', undefined, outcome.setCookies)
    const { target } = upstream
    const headers = upstreamRequestHeaders(req.headers, forwardContext(outcome, req, requestId, target.host), 'websocket')
    const transport = target.protocol === 'https:' ? https : http
    const outgoing = transport.request({
      host: target.hostname,
      port: target.port,
      method: 'GET',
      path: upstreamPath(route, this.path) + this.query,
      headers,
      agent: false,
      timeout: route.timeoutMs,
      rejectUnauthorized: !route.tls.skipVerify,
      servername: upstream.servername,
      ca: route.tls.ca,
    })
    let answered = false
    socket.once('close', () => {
      if (!answered) outgoing.destroy()
    })

    outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' })))
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return
      answered = true
      this.log.warn({ err: { code: err.code, message: err.message }, route: route.id }, 'websocket upstream failed')
      this.deps.pipeline.metrics?.upstreamErrors.inc({ route: route.id, code: err.code ?? 'error' })
      if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH') upstream.eject()
      this.refuse(err.code === 'ETIMEDOUT' ? 'GH_ERR_UPSTREAM_TIMEOUT' : 'GH_ERR_UPSTREAM_UNAVAILABLE', undefined, outcome.setCookies)
    })

    const answerContext = { route, requestId, sessionCookieName: runtime.config.session.cookieName, personal: outcome.session !== undefined }
    // The upstream declined the upgrade: relay its answer as a plain response and close,
    // so the client never gets a raw tunnel the upstream did not agree to.
    outgoing.on('response', (response) => {
      answered = true
      const relayed = clientResponseHeaders(response.headers, answerContext)
      delete relayed['content-length']
      relayed.connection = 'close'
      if (outcome.setCookies) relayed['set-cookie'] = [...outcome.setCookies, ...([] as string[]).concat((relayed['set-cookie'] as string[] | undefined) ?? [])]
      const status = response.statusCode ?? 502
      socket.write(headBlock(status, relayed))
      this.record(status)
      socket.resume() // no tunnel: what the client sends now is discarded, never forwarded
      // A client that leaves mid-answer ends the upstream request too (a streamed answer
      // would otherwise keep the upstream connection open, paused, indefinitely).
      socket.once('close', () => outgoing.destroy())
      response.pipe(socket)
      response.on('error', () => socket.destroy())
    })

    outgoing.on('upgrade', (response, upstreamSocket, upstreamHead) => {
      answered = true
      upstreamSocket.on('error', () => socket.destroy())
      socket.on('error', () => upstreamSocket.destroy())
      const responseHeaders = clientResponseHeaders(response.headers, answerContext)
      // clientResponseHeaders drops hop-by-hop headers; the handshake needs these two back.
      responseHeaders.connection = 'Upgrade'
      responseHeaders.upgrade = response.headers.upgrade ?? 'websocket'
      if (outcome.setCookies) responseHeaders['set-cookie'] = [...outcome.setCookies]
      socket.write(headBlock(101, responseHeaders))
      this.record(101)
      if (upstreamHead.length > 0) socket.write(upstreamHead)
      if (head.length > 0) upstreamSocket.write(head)
      // Messages are relayed as they come: Nagle's algorithm would hold a small frame
      // back until the previous one is acknowledged, adding a round trip to each.
      upstreamSocket.setNoDelay(true)
      if (typeof (socket as Socket).setNoDelay === 'function') (socket as Socket).setNoDelay(true)
      upstreamSocket.setTimeout(route.websocketIdleTimeoutMs)
      upstreamSocket.on('timeout', () => upstreamSocket.destroy())
      socket.pipe(upstreamSocket).pipe(socket)
      deps.tunnels.add(socket)
      // A tunnel outlives no session: sign-out, revocation or expiry closes it.
      const unwatch = outcome.session ? endWithSession(deps.revocations, outcome.session, () => close()) : undefined
      const close = () => {
        unwatch?.()
        deps.tunnels.delete(socket)
        socket.destroy()
        upstreamSocket.destroy()
      }
      socket.once('close', close)
      upstreamSocket.once('close', close)
    })
    outgoing.end()
  }
}

export function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // A socket error must never become an uncaught exception that takes the proxy down.
  socket.on('error', () => socket.destroy())
  // The HTTP server keeps sockets half-open (allowHalfOpen), and nobody reads a socket
  // that was refused: once our side has finished (a refusal, a relayed answer, an ended
  // tunnel) the socket is closed outright, or a client that sends more bytes or never
  // closes would hold it, and app.close(), forever.
  socket.once('finish', () => socket.destroy())
  const requestId = deps.requestId(req)
  const log = deps.log.child({ request_id: requestId })
  const handshake = new Handshake(deps, req, socket, head, requestId, log)
  // Nothing a client or an IdP sends may end the process: whatever this adapter throws
  // becomes a 500 on this socket alone.
  const failed = (err: unknown) => {
    log.error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack } }, 'websocket handshake failed')
    handshake.refuse('GH_ERR_INTERNAL')
  }
  try {
    // h2c and other protocols would turn the connection into something we no longer
    // parse or authorise; only websockets are tunnelled.
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return handshake.refuse('GH_ERR_UPGRADE_UNSUPPORTED')
    if (req.method !== 'GET') return handshake.refuse('GH_ERR_BAD_REQUEST', 'websocket upgrades must use GET')
    const { config } = deps.pipeline.runtime()
    const admitted = admitRequest(req, config)
    if (!admitted.ok) return handshake.refuse(admitted.code, admitted.detail)
    handshake.path = admitted.path
    handshake.query = admitted.query
    const outcome = runPipeline(deps.pipeline, {
      req,
      method: 'GET',
      host: req.headers.host,
      path: admitted.path,
      query: admitted.query,
      scheme: requestScheme(req, config.isTrustedProxy),
      log,
    })
    if (isPromise(outcome)) {
      outcome.then((o) => handshake.render(o)).catch(failed)
      return
    }
    handshake.render(outcome)
  } catch (err) {
    failed(err)
  }
}
