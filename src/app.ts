// buildApp(config) -> a fastify instance with probes, the proxy and websocket upgrades.
// Tests call this directly; `gatehouse serve` wraps it with listening, reload and signals.

import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config/compile.js'
import type { Metrics } from './ops/metrics.js'
import { registerProbes } from './ops/probes.js'
import { forward } from './proxy/forward.js'
import { replyError, wantsHtml, writeSocketError } from './http/answers.js'
import { resolveRoute, type Refusal } from './proxy/resolve.js'
import { admitRequest } from './proxy/admit.js'
import { buildRuntime, type Runtime } from './proxy/runtime.js'
import { UpstreamPools } from './upstream/pools.js'
import { handleUpgrade } from './proxy/websocket.js'
import { registerAuthRoutes, SIGN_IN_PATH } from './auth/flow.js'
import { requestOrigin } from './proxy/authorize.js'
import { registerForwardAuth } from './auth/forward-auth.js'
import { ProviderRegistry } from './auth/registry.js'
import { isHttpLoopback } from './session/chunks.js'
import { requestCookies, type Session } from './session/store.js'
import { needsRefresh, refreshSession } from './auth/refresh.js'

export interface GatehouseState {
  /** The runtime of the newest valid config; requests take it once, when they start. */
  readonly runtime: Runtime
  readonly closing: boolean
  /** Swaps in a new config; requests in flight finish on the old one. */
  reload(config: Config): void
}

declare module 'fastify' {
  interface FastifyInstance {
    gatehouse: GatehouseState
  }
}

export interface BuildOptions {
  /** A logger to use instead of one built from config.log_level (tests pass their own). */
  logger?: FastifyBaseLogger
  /** Prometheus metrics to record into (serve passes them when metrics_address is set). */
  metrics?: Metrics
}

/** An incoming X-Request-Id is kept only from trusted proxies and only when it is tame:
 *  it ends up in logs and upstream headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** TRACE echoes the request, cookies included, back to the caller (cross-site tracing);
 *  CONNECT would turn the proxy into a tunnel to anywhere. */
const REFUSED_METHODS = new Set(['TRACE', 'CONNECT'])

const REFUSED_TARGET = Symbol('gatehouse.refusedTarget')
type RefusedTarget = IncomingMessage & { [REFUSED_TARGET]?: Refusal }

/** Node's own limits: header size, and how long a client may take to send its headers
 *  (slowloris); the timeout is checked every second rather than Node's default 30 s. */
function serverLimits(config: Config) {
  const { maxHeaderBytes, headersTimeoutMs } = config.limits
  return {
    maxHeaderSize: maxHeaderBytes,
    headersTimeout: headersTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor((headersTimeoutMs || 1000) / 2))),
  }
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { metrics } = options
  const pools = new UpstreamPools()
  let runtime = buildRuntime(config, pools)
  let closing = false
  const tunnels = new Set<Duplex>()

  const requestIdFor = (req: IncomingMessage): string => {
    const incoming = req.headers['x-request-id']
    if (typeof incoming === 'string' && REQUEST_ID.test(incoming) && runtime.config.isTrustedProxy(req.socket.remoteAddress ?? '')) {
      return incoming
    }
    return randomUUID()
  }

  const serverOptions: FastifyServerOptions & { https?: unknown } = {
    ...(options.logger ? { loggerInstance: options.logger } : { logger: { level: config.logLevel } }),
    // One access line per request is written by the proxy handler instead.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdFor,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 16_384 },
    // Normalise once, before fastify's router, so Gatehouse's own endpoints, the route
    // table and the upstream all see the same path. A target that cannot be normalised
    // is parked on '/' with its refusal attached, for the catch-all handler to answer.
    rewriteUrl(req) {
      const normalized = admitRequest(req, runtime.config)
      if (normalized.ok) return normalized.path + normalized.query
      ;(req as RefusedTarget)[REFUSED_TARGET] = normalized
      return '/'
    },
    // Node's parser errors (malformed requests, oversized headers, slow clients) get
    // Gatehouse's own error answer instead of fastify's.
    clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex) {
      const code = err.code === 'HPE_HEADER_OVERFLOW' ? 'GH_ERR_HEADERS_TOO_LARGE' : 'GH_ERR_BAD_REQUEST'
      writeSocketError(socket, code, randomUUID())
    },
    // Sessions from IdPs with many groups are chunked across cookies (up to about 30 KB);
    // Node's default 16 KiB header limit would answer those users 431, hence 64 KiB.
    ...(config.tls
      ? { https: { cert: config.tls.cert, key: config.tls.key, ...serverLimits(config) } }
      : { http: serverLimits(config) }),
    requestTimeout: config.limits.requestTimeoutMs,
  }
  const app = Fastify(serverOptions) as unknown as FastifyInstance
  if (config.limits.maxConnections > 0) app.server.maxConnections = config.limits.maxConnections

  app.decorate('gatehouse', {
    get runtime() {
      return runtime
    },
    get closing() {
      return closing
    },
    reload(next: Config) {
      runtime = buildRuntime(next, pools)
      providers.sync(next.idps)
      app.log.level = next.logLevel
    },
  } satisfies GatehouseState)

  // Upstreams fetch this to verify X-Gatehouse-Jwt-Assertion; it holds public keys only.
  app.get('/.well-known/gatehouse/jwks.json', (_req, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(runtime.config.identity.signer.jwks()))

  const providers = new ProviderRegistry(app.log)
  providers.sync(config.idps)
  registerAuthRoutes(app, { config: () => runtime.config, sessions: () => runtime.sessions, providers })
  registerForwardAuth(app, () => runtime)

  /** Browsers navigating get a redirect to sign in; everything else (XHR, fetch, APIs)
   *  gets 401 JSON naming the sign-in URL, which a script can follow itself. */
  const askToSignIn = (reply: FastifyReply, current: Runtime, idp: string | undefined) => {
    const req = reply.request.raw
    const origin = requestOrigin(req, current.config)
    const signIn = `${SIGN_IN_PATH}?rd=${encodeURIComponent(`${origin}${req.url}`)}${idp ? `&idp=${encodeURIComponent(idp)}` : ''}`
    if ((req.method === 'GET' || req.method === 'HEAD') && wantsHtml(req.headers)) {
      return reply.code(302).header('cache-control', 'no-store').header('location', signIn).send()
    }
    return replyError(reply, 'GH_ERR_UNAUTHENTICATED', { html: false, extra: { sign_in_url: `${origin}${signIn}` } })
  }

  registerProbes(app, {
    config: () => (closing ? 'shutting down' : undefined),
    idps: () => providers.problem(),
  })

  // Bodies are streamed to the upstream untouched: no parser may read them first.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => done(null))

  app.all('*', (request, reply) => {
    const req = request.raw
    const logging = (request.log as Logger).isLevelEnabled('info')
    let routeLabel = '-'
    if (logging || metrics) {
      const started = performance.now()
      reply.raw.once('finish', () => {
        const ms = performance.now() - started
        if (logging) request.log.info({ method: req.method, host: req.headers.host, path: req.url!.split('?', 1)[0], status: reply.raw.statusCode, ms: Math.round(ms) }, 'request')
        if (metrics) {
          metrics.requests.inc({ route: routeLabel, code: reply.raw.statusCode })
          metrics.duration.observe({ route: routeLabel }, ms / 1000)
        }
      })
    }
    const refused = (req as RefusedTarget)[REFUSED_TARGET]
    if (refused) return replyError(reply, refused.code, { detail: refused.detail })
    if (REFUSED_METHODS.has(req.method!)) return replyError(reply, 'GH_ERR_METHOD_NOT_ALLOWED')
    const current = runtime
    const url = req.url!
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const cookies = requestCookies(req)
    const session = current.sessions.read(cookies)
    const loopback = () => isHttpLoopback(requestOrigin(req, current.config) ?? '')
    const proceed = (user: Session | undefined) => {
      const resolution = resolveRoute({ runtime: current, log: request.log, user: user?.user }, req, path)
      const route = resolution.route
      if (route) {
        routeLabel = route.id
        metrics?.decisions.inc({ route: route.id, verdict: resolution.ok ? 'allow' : resolution.code === 'GH_ERR_UNAUTHENTICATED' ? 'sign_in' : 'deny' })
      }
      if (!resolution.ok) {
        if (resolution.code === 'GH_ERR_UNAUTHENTICATED') return askToSignIn(reply, current, resolution.route?.idp)
        return replyError(reply, resolution.code, { detail: resolution.detail })
      }
      reply.hijack()
      forward(current, resolution.route, req, reply.raw, path, q === -1 ? '' : url.slice(q), request.id, request.log, user)
    }
    if (session === undefined) {
      if (current.sessions.present(cookies)) {
        // A session cookie that does not open (tampered, expired, an old key) is cleared,
        // so the browser stops sending it; the request goes on without a session.
        reply.raw.setHeader('set-cookie', current.sessions.write(undefined, cookies, loopback()))
      }
      return proceed(undefined)
    }
    if (!needsRefresh(session)) return proceed(session)
    // Rare (once per access token lifetime): the only await on the request path.
    return refreshSession(session, providers, request.log).then((outcome) => {
      if (!outcome.ok) {
        reply.raw.setHeader('set-cookie', current.sessions.write(undefined, cookies, loopback()))
        return proceed(undefined)
      }
      reply.raw.setHeader('set-cookie', current.sessions.write(outcome.data, cookies, loopback(), session.exp))
      return proceed(current.sessions.fromData(outcome.data, session.exp))
    })
  })

  // CONNECT would make Gatehouse a tunnel to anywhere.
  app.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    writeSocketError(socket, 'GH_ERR_BAD_REQUEST', requestIdFor(req), 'CONNECT is not accepted')
  })

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (closing) {
      socket.destroy()
      return
    }
    // Tracked from the start, not only once tunnelled, so shutdown also cuts handshakes
    // still waiting for their upstream (which would otherwise open a tunnel after it).
    tunnels.add(socket)
    socket.once('close', () => tunnels.delete(socket))
    handleUpgrade({ runtime: () => runtime, requestId: requestIdFor, log: app.log, tunnels }, req, socket, head)
  })

  app.addHook('preClose', async () => {
    closing = true
    // fastify runs server.close() after preClose and before onClose, and it waits for
    // every socket, upgraded ones included: open tunnels are cut here, or close hangs.
    for (const socket of tunnels) socket.destroy()
  })
  app.addHook('onClose', async () => {
    providers.close()
    await pools.close()
  })
  return app
}
