// Websocket upgrades. Node hands them to the server's 'upgrade' event, outside fastify's
// routing and hooks, so this path calls the same resolveRequest (route match and
// authorization) as ordinary requests before it dials anything.

import http, { STATUS_CODES, type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { ErrorCode } from '../errors.js'
import { forwardContext, upstreamPath } from './forward.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { writeSocketError } from '../http/answers.js'
import { parseHost } from '../routes/host.js'
import { requestOrigin } from './authorize.js'
import { isHttpLoopback } from '../session/chunks.js'
import { requestCookies } from '../session/store.js'
import { resolveRequest } from './resolve.js'
import type { Runtime } from './runtime.js'

export interface UpgradeDeps {
  runtime(): Runtime
  requestId(req: IncomingMessage): string
  log: FastifyBaseLogger
  /** Open tunnels, so shutdown can close them. */
  tunnels: Set<Duplex>
}

function headBlock(status: number, headers: Record<string, string | string[] | number | undefined>): string {
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

export function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // A socket error must never become an uncaught exception that takes the proxy down.
  socket.on('error', () => socket.destroy())
  // The HTTP server keeps sockets half-open (allowHalfOpen), and nobody reads a socket
  // that was refused: once our side has finished (a refusal, a relayed answer, an ended
  // tunnel) the socket is closed outright, or a client that sends more bytes or never
  // closes would hold it, and app.close(), forever.
  socket.once('finish', () => socket.destroy())
  const requestId = deps.requestId(req)
  let clearCookies: string[] = []
  const refuse = (code: ErrorCode, detail?: string) => {
    socket.resume() // discard what the client sends meanwhile
    writeSocketError(socket, code, requestId, detail, clearCookies)
  }

  // h2c and other protocols would turn the connection into something we no longer
  // parse or authorise; only websockets are tunnelled.
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return refuse('GH_ERR_UPGRADE_UNSUPPORTED')
  if (req.method !== 'GET') return refuse('GH_ERR_BAD_REQUEST', 'websocket upgrades must use GET')

  const runtime = deps.runtime()
  const cookies = requestCookies(req)
  const session = runtime.sessions.read(cookies)
  // As for ordinary requests: a session cookie that does not open is cleared.
  if (!session && runtime.sessions.present(cookies)) {
    clearCookies = runtime.sessions.write(undefined, cookies, isHttpLoopback(requestOrigin(req, runtime.config) ?? ''))
  }
  const resolution = resolveRequest({ runtime, log: deps.log.child({ request_id: requestId }), user: session?.user }, req)
  if (!resolution.ok) return refuse(resolution.code, resolution.detail)
  const { route, path, query } = resolution
  if (!route.allowWebsockets) return refuse('GH_ERR_WEBSOCKETS_DISABLED')
  // Browsers send cookies with cross-site websocket handshakes (no CORS for them), so a
  // page on another site could drive a signed-in user's tunnel: refuse a session-backed
  // upgrade whose Origin is not the route's own host.
  if (session && isCrossSite(req.headers.origin, req.headers.host)) return refuse('GH_ERR_FORBIDDEN', 'cross-site websocket handshakes are refused')

  const upstream = runtime.upstreams.get(route)!.pick()
  const { target } = upstream
  const headers = upstreamRequestHeaders(req.headers, forwardContext(runtime, req, route, requestId, target.host, session), 'websocket')
  const transport = target.protocol === 'https:' ? https : http
  const outgoing = transport.request({
    host: target.hostname,
    port: target.port,
    method: 'GET',
    path: upstreamPath(route, path) + query,
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
    deps.log.warn({ err: { code: err.code, message: err.message }, route: route.id }, 'websocket upstream failed')
    refuse(err.code === 'ETIMEDOUT' ? 'GH_ERR_UPSTREAM_TIMEOUT' : 'GH_ERR_UPSTREAM_UNAVAILABLE')
  })

  // The upstream declined the upgrade: relay its answer as a plain response and close,
  // so the client never gets a raw tunnel the upstream did not agree to.
  outgoing.on('response', (response) => {
    answered = true
    const relayed = clientResponseHeaders(response.headers, route, requestId)
    delete relayed['content-length']
    relayed.connection = 'close'
    socket.write(headBlock(response.statusCode ?? 502, relayed))
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
    const responseHeaders = clientResponseHeaders(response.headers, route, requestId)
    // clientResponseHeaders drops hop-by-hop headers; the handshake needs these two back.
    responseHeaders.connection = 'Upgrade'
    responseHeaders.upgrade = response.headers.upgrade ?? 'websocket'
    if (clearCookies.length > 0) responseHeaders['set-cookie'] = clearCookies
    socket.write(headBlock(101, responseHeaders))
    if (upstreamHead.length > 0) socket.write(upstreamHead)
    if (head.length > 0) upstreamSocket.write(head)
    upstreamSocket.setTimeout(route.websocketIdleTimeoutMs)
    upstreamSocket.on('timeout', () => upstreamSocket.destroy())
    socket.pipe(upstreamSocket).pipe(socket)
    deps.tunnels.add(socket)
    const close = () => {
      deps.tunnels.delete(socket)
      socket.destroy()
      upstreamSocket.destroy()
    }
    socket.once('close', close)
    upstreamSocket.once('close', close)
  })
  outgoing.end()
}
