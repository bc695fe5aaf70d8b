// Reloading a running configuration: on a change to config.yaml or the policies folder,
// and on SIGHUP. The new files are loaded and validated in full first; a rejected config
// is logged and the running one stays. Settings bound at start-up are named when they
// change, since they apply only after a restart.

import type { BaseLogger } from 'pino'
import { formatIssue, problemLines } from '../errors.js'
import type { Metrics } from '../ops/metrics.js'
import type { Config } from './compile.js'
import { loadConfig } from './load.js'
import { watchConfig, type ConfigWatcher } from './watch.js'

/** Settings bound at start-up; changing them needs a restart, which we say out loud. */
function restartOnlyChanges(a: Config, b: Config): string[] {
  const changed: string[] = []
  if (a.address.host !== b.address.host || a.address.port !== b.address.port) changed.push('address')
  if (a.tls?.cert !== b.tls?.cert || a.tls?.key !== b.tls?.key) changed.push('tls_cert_file/tls_key_file')
  if (JSON.stringify(a.demo) !== JSON.stringify(b.demo)) changed.push('demo')
  if (a.logFormat !== b.logFormat) changed.push('log_format')
  if (JSON.stringify(a.limits) !== JSON.stringify(b.limits)) changed.push('limits')
  if (JSON.stringify(a.metricsAddress) !== JSON.stringify(b.metricsAddress)) changed.push('metrics_address')
  if (a.workers !== b.workers) changed.push('workers')
  return changed
}

export interface Reloader {
  /** Reloads from disk; resolves false when the new config was rejected. */
  reload(): Promise<boolean>
  close(): void
}

export interface ReloaderOptions {
  log: Pick<BaseLogger, 'info' | 'warn' | 'error'>
  metrics?: Metrics
  /** Watch the files (default true); SIGHUP reloads either way. */
  watch?: boolean
  /** Puts a validated config into service. */
  apply(next: Config): void
}

export function startReloader(configPath: string, initial: Config, options: ReloaderOptions): Reloader {
  const { log, metrics } = options
  let current = initial
  let watcher: ConfigWatcher | undefined
  const rewatch = () => {
    if (options.watch === false) return
    watcher?.close()
    watcher = watchConfig(current.configFile!, current.policiesDir, () => void reload())
  }

  // One reload at a time, in the order asked: a burst of edits ends on the last version.
  let queue: Promise<boolean> = Promise.resolve(true)
  const reload = (): Promise<boolean> => {
    queue = queue.then(async () => {
      try {
        const next = await loadConfig(configPath)
        const needsRestart = restartOnlyChanges(current, next)
        if (needsRestart.length > 0) log.warn({ settings: needsRestart }, 'these settings changed on disk and apply only after a restart')
        const policiesMoved = next.policiesDir !== current.policiesDir
        options.apply(next)
        current = next
        if (policiesMoved) rewatch()
        for (const warning of next.warnings) log.warn({ warning: formatIssue(warning) }, 'configuration warning')
        log.info({ routes: next.routes.length }, 'configuration reloaded')
        metrics?.reloads.inc({ result: 'applied' })
        return true
      } catch (err) {
        const issues = problemLines(err)
        log.error({ issues }, 'new configuration rejected; the running configuration stays in effect')
        metrics?.reloads.inc({ result: 'rejected' })
        return false
      }
    })
    return queue
  }
  rewatch()
  const onHangup = () => void reload()
  process.on('SIGHUP', onHangup)
  return {
    reload,
    close() {
      process.off('SIGHUP', onHangup)
      watcher?.close()
    },
  }
}
