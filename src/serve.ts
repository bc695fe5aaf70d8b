// `gatehouse serve`: load, listen, reload on change or SIGHUP, drain on SIGTERM.

import closeWithGrace from 'close-with-grace'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import type { Config } from './config/compile.js'
import { loadConfig } from './config/load.js'
import { watchConfig, type ConfigWatcher } from './config/watch.js'
import { ConfigError, formatIssue, GatehouseError } from './errors.js'
import type { Metrics } from './ops/metrics.js'

export interface Served {
  app: FastifyInstance
  /** The /metrics listener, when metrics_address is set. */
  metricsServer: import('node:http').Server | undefined
  /** Reloads from disk; resolves false when the new config was rejected. */
  reload(): Promise<boolean>
  close(): Promise<void>
}

/** Settings bound at start-up; changing them needs a restart, which we say out loud. */
function restartOnlyChanges(a: Config, b: Config): string[] {
  const changed: string[] = []
  if (a.address.host !== b.address.host || a.address.port !== b.address.port) changed.push('address')
  if (a.tls?.cert !== b.tls?.cert || a.tls?.key !== b.tls?.key) changed.push('tls_cert_file/tls_key_file')
  if (JSON.stringify(a.demo) !== JSON.stringify(b.demo)) changed.push('demo')
  if (a.logFormat !== b.logFormat) changed.push('log_format')
  if (JSON.stringify(a.limits) !== JSON.stringify(b.limits)) changed.push('limits')
  if (JSON.stringify(a.metricsAddress) !== JSON.stringify(b.metricsAddress)) changed.push('metrics_address')
  return changed
}

/** A listener that could not start, said as the operator can act on it: which
 *  listener, which address, why, and what to change. */
export function listenFailure(what: string, setting: string, address: { host: string; port: number }, err: unknown): GatehouseError {
  const code = (err as NodeJS.ErrnoException)?.code
  const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
  const why =
    code === 'EADDRINUSE'
      ? `another process already listens there; stop it or change ${setting}`
      : code === 'EACCES'
        ? `this user may not listen there (ports below 1024 need privileges); change ${setting}`
        : code === 'EADDRNOTAVAIL'
          ? `this machine has no such address; change ${setting}`
          : `${(err as Error)?.message ?? 'it failed'}; check ${setting}`
  return new GatehouseError('GH_ERR_LISTEN', `${what} cannot listen on ${where}: ${why}`, { cause: err })
}

export interface ServeOptions {
  logger?: FastifyBaseLogger
  /** Watch the files for changes (default true); SIGHUP reloads either way. */
  watch?: boolean
  /** Where the demo's banner goes (default stdout). */
  print?: (text: string) => void
}

export async function serve(configPath: string, options: ServeOptions = {}): Promise<Served> {
  const initial = await loadConfig(configPath)
  let current = initial
  // The demo and the metrics registry are loaded only when configured: every start
  // without them is that much quicker.
  const demo = initial.demo ? await (await import('./demo/demo.js')).startDemo(initial) : undefined
  // The banner comes before any log line: it is what someone trying the demo reads first.
  if (demo) (options.print ?? ((text: string) => process.stdout.write(text)))(demo.banner)
  const metrics: Metrics | undefined = initial.metricsAddress ? new (await import('./ops/metrics.js')).Metrics() : undefined
  let metricsServer: import('node:http').Server | undefined
  try {
    metricsServer = metrics ? await metrics.listen(initial.metricsAddress!) : undefined
  } catch (err) {
    await demo?.close()
    throw listenFailure('the metrics listener', 'metrics_address', initial.metricsAddress!, err)
  }
  const app = await buildApp(initial, { logger: options.logger, metrics })
  try {
    await app.listen({ host: initial.address.host, port: initial.address.port })
  } catch (err) {
    // Nothing may keep the process alive after a failed start (the demo upstream would).
    await app.close()
    await demo?.close()
    metricsServer?.close()
    throw listenFailure('Gatehouse', 'address in config.yaml', initial.address, err)
  }
  for (const warning of initial.warnings) app.log.warn({ warning: formatIssue(warning) }, 'configuration warning')
  if (initial.session.ephemeral) {
    app.log.warn(
      demo?.warnings.sessionSecrets ??
        "session.secrets is not set: sessions are encrypted with a secret made for this process only, so every user is signed out at restart, and replicas cannot read each other's sessions (gatehouse keys makes a lasting one)",
    )
  }
  if (initial.identity.ephemeral) {
    app.log.warn(
      demo?.warnings.signingKey ??
        'identity.signing_key_file is not set: identity assertions are signed with a key made for this process only; upstreams must refetch the JWKS after every restart (gatehouse keys makes a lasting one)',
    )
  }

  let watcher: ConfigWatcher | undefined
  const rewatch = () => {
    if (options.watch === false) return
    watcher?.close()
    watcher = watchConfig(current.configFile!, current.policiesDir, () => void reload())
  }

  let queue: Promise<boolean> = Promise.resolve(true)
  const reload = (): Promise<boolean> => {
    queue = queue.then(async () => {
      try {
        const next = await loadConfig(configPath)
        const needsRestart = restartOnlyChanges(current, next)
        if (needsRestart.length > 0) app.log.warn({ settings: needsRestart }, 'these settings changed on disk and apply only after a restart')
        const policiesMoved = next.policiesDir !== current.policiesDir
        app.gatehouse.reload(next)
        current = next
        if (policiesMoved) rewatch()
        for (const warning of next.warnings) app.log.warn({ warning: formatIssue(warning) }, 'configuration warning')
        app.log.info({ routes: next.routes.length }, 'configuration reloaded')
        metrics?.reloads.inc({ result: 'applied' })
        return true
      } catch (err) {
        const issues = err instanceof ConfigError ? err.issues.map(formatIssue) : [(err as Error).message]
        app.log.error({ issues }, 'new configuration rejected; the running configuration stays in effect')
        metrics?.reloads.inc({ result: 'rejected' })
        return false
      }
    })
    return queue
  }
  rewatch()
  const onHangup = () => void reload()
  process.on('SIGHUP', onHangup)

  let closed: Promise<void> | undefined
  const close = () => {
    closed ??= (async () => {
      process.off('SIGHUP', onHangup)
      watcher?.close()
      await app.close()
      await demo?.close()
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()))
    })()
    return closed
  }
  return { app, metricsServer, reload, close }
}

/** Runs until SIGTERM/SIGINT, then drains in-flight requests for up to shutdown_timeout. */
export async function serveUntilSignalled(configPath: string): Promise<void> {
  const served = await serve(configPath)
  // SIGHUP reloads the configuration (see serve): close-with-grace must not take it as a stop.
  closeWithGrace({ delay: served.app.gatehouse.runtime.config.shutdownTimeoutMs, skip: ['SIGHUP'] }, async ({ signal, err }) => {
    if (err) served.app.log.error({ err }, 'stopping after an unexpected error')
    else served.app.log.info({ signal }, 'shutting down: draining requests in flight')
    await served.close()
  })
}
