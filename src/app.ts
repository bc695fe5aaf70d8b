// buildApp(config) -> a fastify instance serving Gatehouse: its own endpoints, and the
// proxy for HTTP, websockets and forward-auth, all three adapters over one pipeline.
// Tests call this directly; `gatehouse serve` wraps it with listening, reload and signals.

import { randomUUID } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { registerBackchannelLogout } from './auth/backchannel.js'
import { registerAuthRoutes } from './auth/flow.js'
import { registerSignOut } from './auth/sign-out.js'
import { registerUserPage } from './auth/user-page.js'
import { registerHandoff } from './auth/handoff.js'
import { registerLocalSignIn } from './auth/local-sign-in.js'
import { LocalSignInLimits, type SignInLimits } from './auth/sign-in-limits.js'
import { ProviderRegistry } from './auth/registry.js'
import type { Config } from './config/compile.js'
import { GatehouseError } from './errors.js'
import { replyError, writeSocketError } from './http/answers.js'
import { FORWARD_AUTH_PATH, JWKS_PATH } from './http/endpoints.js'
import { AccessLog, identifyRequest, requestIdOf } from './ops/access-log.js'
import { loggerOptions } from './ops/logger.js'
import type { Metrics } from './ops/metrics.js'
import { registerProbes } from './ops/probes.js'
import { admitRequest } from './proxy/admit.js'
import { ClientLimit } from './proxy/client-limit.js'
import { forwardAuthHandler } from './proxy/forward-auth.js'
import { ADMITTED, proxyHandler, REFUSED_TARGET, type Carried } from './proxy/http.js'
import { handleDirectly, type DirectDeps } from './proxy/direct.js'
import type { PipelineDeps } from './proxy/pipeline.js'
import { buildRuntime, type Runtime } from './proxy/runtime.js'
import { handleUpgrade } from './proxy/websocket.js'
import type { SessionShare } from './session/share.js'
import { SessionStores } from './session/stores.js'
import { UpstreamPools } from './upstream/pools.js'

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
  /** How this process reaches the other workers of its run (cookie-store sessions). */
  share?: SessionShare
  /** Local-account failure counts; with workers, the primary's (default: this process's). */
  signInLimits?: SignInLimits
}

/** An incoming X-Request-Id is kept only from trusted proxies and only when it is tame:
 *  it ends up in logs and upstream headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** What lives as long as the app: the current runtime, pools, providers, open tunnels. */
class AppState implements GatehouseState {
  runtime: Runtime
  closing = false
  readonly pools = new UpstreamPools()
  readonly sessionStores: SessionStores
  readonly tunnels = new Set<Duplex>()
  readonly providers: ProviderRegistry
  readonly pipeline: PipelineDeps
  readonly accessLog: AccessLog
  /** What direct.ts needs to forward a request without fastify. */
  readonly direct: DirectDeps

  constructor(
    config: Config,
    readonly log: FastifyBaseLogger,
    metrics: Metrics | undefined,
    share: SessionShare | undefined,
    readonly signInLimits: SignInLimits,
  ) {
    this.sessionStores = new SessionStores(metrics && ((ms) => metrics.storeDuration.observe(ms / 1000)), share)
    this.runtime = buildRuntime(config, this.pools, this.sessionStores)
    this.accessLog = new AccessLog(() => this.log, metrics)
    this.providers = new ProviderRegistry(log)
    this.providers.sync(config.idps)
    this.pipeline = { runtime: () => this.runtime, providers: this.providers, metrics, clientLimit: new ClientLimit() }
    this.direct = { pipeline: this.pipeline, log, requestId: this.requestId }
    metrics?.watch({
      websockets: () => this.tunnels.size,
      upstreams: () => this.upstreamHealth(),
      storeUp: () => this.runtime.sessions.problem() === undefined,
    })
  }

  reload(config: Config): void {
    this.runtime = buildRuntime(config, this.pools, this.sessionStores)
    this.providers.sync(config.idps)
    this.log.level = config.logLevel
  }

  /** [route, upstream, gets traffic] for every member of every route, for metrics. */
  *upstreamHealth(): Iterable<[string, string, boolean]> {
    for (const [route, upstreams] of this.runtime.upstreams) for (const m of upstreams.members) yield [route.id, m.target.origin, m.available]
  }

  requestId = (req: IncomingMessage): string => {
    // Given once: direct.ts may have named the request before fastify asks.
    const given = requestIdOf(req)
    if (given !== undefined) return given
    const incoming = req.headers['x-request-id']
    const trusted = typeof incoming === 'string' && REQUEST_ID.test(incoming) && this.runtime.config.isTrustedProxy(req.socket.remoteAddress ?? '')
    return identifyRequest(req, trusted ? incoming : randomUUID())
  }
}

/** Node's own limits: header size, and how long a client may take to send its headers
 *  (slowloris); the timeout is checked every second rather than Node's default 30 s.
 *  Sessions from IdPs with many groups are chunked across cookies (up to about 30 KB);
 *  Node's default 16 KiB header limit would answer those users 431, hence 64 KiB. */
function serverLimits(config: Config) {
  const { maxHeaderBytes, headersTimeoutMs } = config.limits
  return {
    maxHeaderSize: maxHeaderBytes,
    headersTimeout: headersTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor((headersTimeoutMs || 1000) / 2))),
  }
}

function createServer(config: Config, state: () => AppState | undefined, logger: FastifyBaseLogger | undefined): FastifyInstance {
  const options: FastifyServerOptions & { https?: unknown } = {
    ...(logger ? { loggerInstance: logger } : { logger: loggerOptions(config) }),
    // One access line per exchange is written by ops/access-log.ts instead.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => state()!.requestId(req),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 16_384 },
    // Normalise once, before fastify's router, so Gatehouse's own endpoints, the route
    // table and the upstream all see the same path. A target that cannot be normalised
    // is parked on '/' with its refusal attached, for the proxy handler to answer.
    rewriteUrl(req) {
      const admitted = (req as Carried)[ADMITTED] ?? admitRequest(req, state()!.runtime.config)
      if (admitted.ok) return admitted.path + admitted.query
      ;(req as Carried)[REFUSED_TARGET] = admitted
      return '/'
    },
    // Node's parser errors (malformed requests, oversized headers, slow clients) get
    // Gatehouse's own error answer instead of fastify's.
    clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex) {
      writeSocketError(socket, err.code === 'HPE_HEADER_OVERFLOW' ? 'GH_ERR_HEADERS_TOO_LARGE' : 'GH_ERR_BAD_REQUEST', randomUUID())
    },
    requestTimeout: config.limits.requestTimeoutMs,
    // Our own server, so that a proxied request reaches direct.ts before fastify: fastify
    // gets what direct.ts does not forward itself (its own endpoints, every refusal).
    serverFactory(fastifyHandler, options) {
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        const current = state()
        if (current === undefined || current.closing) return fastifyHandler(req, res)
        handleDirectly(current.direct, req, res, () => fastifyHandler(req, res))
      }
      const server = config.tls
        ? https.createServer({ cert: config.tls.cert, key: config.tls.key, ...serverLimits(config) }, onRequest)
        : http.createServer(serverLimits(config), onRequest)
      // What fastify sets on a server it creates itself.
      server.keepAliveTimeout = (options as { keepAliveTimeout?: number }).keepAliveTimeout ?? 72_000
      server.requestTimeout = config.limits.requestTimeoutMs
      return server
    },
  }
  const app = Fastify(options) as unknown as FastifyInstance
  if (config.limits.maxConnections > 0) app.server.maxConnections = config.limits.maxConnections
  return app
}

/** Whatever a handler throws is answered in Gatehouse's own format: a coded error with
 *  its status, anything else as GH_ERR_INTERNAL (logged with the request id). */
function registerErrorAnswers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof GatehouseError) return replyError(reply, err.code, { detail: err.status < 500 ? err.message : undefined })
    // fastify's own refusals of a malformed request keep meaning "your request".
    const status = (err as { statusCode?: number }).statusCode
    if (status !== undefined && status >= 400 && status < 500) return replyError(reply, 'GH_ERR_BAD_REQUEST', { detail: (err as Error).message })
    request.log.error({ err }, 'request failed')
    return replyError(reply, 'GH_ERR_INTERNAL')
  })
}

/** Gatehouse's own endpoints: keys, probes, sign-in and friends, forward-auth. */
function registerOwnEndpoints(app: FastifyInstance, state: AppState): void {
  // Upstreams fetch this to verify X-Gatehouse-Jwt-Assertion; it holds public keys only.
  app.get(JWKS_PATH, (_req, reply) => reply.header('cache-control', 'public, max-age=300').send(state.runtime.config.identity.signer.jwks()))
  registerProbes(app, {
    config: () => (state.closing ? 'shutting down' : undefined),
    idps: () => state.providers.problem(),
    sessions: () => state.runtime.sessions.problem(),
  })
  const auth = { runtime: () => state.runtime, providers: state.providers, metrics: state.pipeline.metrics }
  registerAuthRoutes(app, auth)
  registerSignOut(app, auth)
  registerUserPage(app, auth)
  registerBackchannelLogout(app, { runtime: () => state.runtime, providers: state.providers })
  registerHandoff(app, { runtime: () => state.runtime })
  registerLocalSignIn(app, { runtime: () => state.runtime, metrics: state.pipeline.metrics, limits: state.signInLimits })
  app.all(FORWARD_AUTH_PATH, forwardAuthHandler(state.pipeline))
}

/** Everything else is proxied: plain HTTP through the catch-all, websockets through the
 *  server's upgrade event; CONNECT is refused. */
function registerProxy(app: FastifyInstance, state: AppState): void {
  // Node times out the headers of a request once its first byte arrives, but not a
  // connection that never sends one: a client could hold thousands open for ever. One
  // that has sent nothing after headers_timeout is closed.
  const idleMs = state.runtime.config.limits.headersTimeoutMs
  if (idleMs > 0) {
    app.server.on('connection', (socket: Socket) => {
      const timer = setTimeout(() => {
        if (socket.bytesRead === 0) socket.destroy()
      }, idleMs)
      timer.unref()
      socket.once('close', () => clearTimeout(timer))
    })
  }

  // Bodies are streamed to the upstream untouched: no parser may read them first.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => done(null))
  app.all('*', proxyHandler(state.pipeline))

  app.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    writeSocketError(socket, 'GH_ERR_BAD_REQUEST', state.requestId(req), { detail: 'CONNECT is not accepted' })
  })
  const upgrades = {
    pipeline: state.pipeline,
    requestId: state.requestId,
    log: app.log,
    accessLog: state.accessLog,
    tunnels: state.tunnels,
    revocations: state.sessionStores.revocations,
  }
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (state.closing) {
      socket.on('error', () => socket.destroy())
      writeSocketError(socket, 'GH_ERR_SHUTTING_DOWN', state.requestId(req))
      return
    }
    // Tracked from the start, not only once tunnelled, so shutdown also cuts handshakes
    // still waiting for their upstream (which would otherwise open a tunnel after it).
    state.tunnels.add(socket)
    socket.once('close', () => state.tunnels.delete(socket))
    handleUpgrade(upgrades, req, socket, head)
  })
}

function registerLifecycle(app: FastifyInstance, state: AppState): void {
  app.decorate('gatehouse', state)
  app.addHook('preClose', async () => {
    state.closing = true
    // fastify runs server.close() after preClose and before onClose, and it waits for
    // every socket, upgraded ones included: open tunnels are cut here, or close hangs.
    for (const socket of state.tunnels) socket.destroy()
  })
  app.addHook('onClose', async () => {
    state.providers.close()
    await state.sessionStores.close()
    await state.pools.close()
  })
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  let state: AppState | undefined
  const app = createServer(config, () => state, options.logger)
  state = new AppState(config, app.log, options.metrics, options.share, options.signInLimits ?? new LocalSignInLimits())
  state.accessLog.observe(app.server)
  // Pages follow reloads: branding and templates come from the newest config.
  app.decorate('pageShell', { getter: () => state!.runtime.config.pages })
  registerErrorAnswers(app)
  registerOwnEndpoints(app, state)
  registerProxy(app, state)
  registerLifecycle(app, state)
  return app
}
