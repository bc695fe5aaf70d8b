// `gatehouse serve`: load, listen, reload on change or SIGHUP, drain on SIGTERM.

import closeWithGrace from 'close-with-grace'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import type { Config } from './config/compile.js'
import { loadConfig } from './config/load.js'
import { startReloader } from './config/reloader.js'
import { problemLines } from './errors.js'
import { listenFailure } from './ops/listen-failure.js'
import type { Metrics } from './ops/metrics.js'
import { logStartWarnings } from './ops/start-warnings.js'
import type { SignInLimits } from './auth/sign-in-limits.js'
import type { SessionShare } from './session/share.js'

export interface Served {
  app: FastifyInstance
  metrics: Metrics | undefined
  /** The /metrics listener, when metrics_address is set. */
  metricsServer: import('node:http').Server | undefined
  /** Reloads from disk; resolves false when the new config was rejected. */
  reload(): Promise<boolean>
  close(): Promise<void>
}

export interface ServeOptions {
  logger?: FastifyBaseLogger
  /** Watch the files for changes (default true); SIGHUP reloads either way. */
  watch?: boolean
  /** Where the demo's banner goes (default stdout). */
  print?: (text: string) => void
  /** The configuration, when the caller has loaded it already. */
  initial?: Config
  /** Set in one worker of several: the primary watches, reloads, warns and serves
   *  metrics, and keeps what the workers share (session state, sign-in limits). */
  worker?: { share: SessionShare; signInLimits: SignInLimits }
}

export async function serve(configPath: string, options: ServeOptions = {}): Promise<Served> {
  const initial = options.initial ?? (await loadConfig(configPath))
  const worker = options.worker
  // The demo and the metrics registry are loaded only when configured: every start
  // without them is that much quicker. Workers never run the demo: it runs in one
  // process (compile.ts warns).
  const demo = initial.demo && !worker ? await (await import('./demo/demo.js')).startDemo(initial) : undefined
  // The banner comes before any log line: it is what someone trying the demo reads first.
  if (demo) (options.print ?? ((text: string) => process.stdout.write(text)))(demo.banner)
  const metrics: Metrics | undefined = initial.metricsAddress ? new (await import('./ops/metrics.js')).Metrics() : undefined
  let metricsServer: import('node:http').Server | undefined
  try {
    metricsServer = metrics && !worker ? await metrics.listen(initial.metricsAddress!) : undefined
  } catch (err) {
    await demo?.close()
    throw listenFailure('the metrics listener', 'metrics_address', initial.metricsAddress!, err)
  }
  const app = await buildApp(initial, { logger: options.logger, metrics, share: worker?.share, signInLimits: worker?.signInLimits })
  try {
    await app.listen({ host: initial.address.host, port: initial.address.port })
  } catch (err) {
    // Nothing may keep the process alive after a failed start (the demo upstream would).
    await app.close()
    await demo?.close()
    metricsServer?.close()
    throw listenFailure('Gatehouse', 'address in config.yaml', initial.address, err)
  }
  if (!worker) logStartWarnings(app.log, initial, demo?.warnings)

  const reloader = worker
    ? undefined
    : startReloader(configPath, initial, { log: app.log, metrics, watch: options.watch, apply: (next) => app.gatehouse.reload(next) })
  // A worker loads what its primary has already validated; it speaks only when its own
  // load fails (the files changed again in between).
  const reload = reloader
    ? reloader.reload
    : async () => {
        try {
          app.gatehouse.reload(await loadConfig(configPath))
          return true
        } catch (err) {
          const issues = problemLines(err)
          app.log.error({ issues }, 'this worker could not load the configuration its primary accepted; it keeps the running one')
          return false
        }
      }

  let closed: Promise<void> | undefined
  const close = () => {
    closed ??= (async () => {
      reloader?.close()
      await app.close()
      await demo?.close()
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()))
    })()
    return closed
  }
  return { app, metrics, metricsServer, reload, close }
}

/** Runs until SIGTERM/SIGINT, then drains in-flight requests for up to shutdown_timeout. */
export async function serveUntilSignalled(configPath: string, options: ServeOptions = {}): Promise<Served> {
  const served = await serve(configPath, options)
  // SIGHUP reloads the configuration (see serve): close-with-grace must not take it as a stop.
  closeWithGrace({ delay: served.app.gatehouse.runtime.config.shutdownTimeoutMs, skip: ['SIGHUP'] }, async ({ signal, err }) => {
    if (err) served.app.log.error({ err }, 'stopping after an unexpected error')
    else served.app.log.info({ signal }, 'shutting down: draining requests in flight')
    await served.close()
  })
  return served
}
