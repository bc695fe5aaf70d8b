// The primary of a run with `workers` > 1. It serves no requests: it forks the workers
// (node:cluster, which shares the listening socket among them), hands each the run's
// secrets, keeps the state they share (one-time codes, replay keys, refresh locks,
// local-account sign-in limits) and relays their news, watches the files and tells every worker to reload a
// config it has validated, serves /metrics summed over all of them, replaces a worker
// that dies, and on SIGTERM or SIGINT lets them drain before it exits.

import cluster, { type Worker } from 'node:cluster'
import pino from 'pino'
import { AggregatorRegistry } from 'prom-client'
import { LocalSignInLimits } from '../auth/sign-in-limits.js'
import type { Config } from '../config/compile.js'
import { startReloader, type Reloader } from '../config/reloader.js'
import { exportRunSecrets } from '../config/run-secrets.js'
import { GatehouseError, isErrorCode } from '../errors.js'
import { loggerOptions } from '../ops/logger.js'
import { Metrics } from '../ops/metrics.js'
import { logStartWarnings } from '../ops/start-warnings.js'
import { listenFailure } from '../ops/listen-failure.js'
import { LocalShare } from '../session/share.js'
import type { SessionLock } from '../session/store.js'
import { isOurs, type ToPrimary, type ToWorker } from './messages.js'

/** A worker that dies this often within CRASH_WINDOW_MS is not replaced again: the run
 *  stops, rather than forking for ever a worker that cannot live. */
const CRASH_LIMIT = 5
const CRASH_WINDOW_MS = 60_000
/** How long a scrape waits for a worker's metrics before answering without them. */
const METRICS_WAIT_MS = 2_000

class Primary {
  private readonly log: pino.Logger
  private readonly secrets = exportRunSecrets()
  /** One-time codes, replay keys and refresh locks, for every worker. */
  private readonly shared = new LocalShare()
  /** Local-account failures, counted once for the whole run. */
  private readonly signInLimits = new LocalSignInLimits()
  private readonly locks = new Map<number, { lock: SessionLock; worker: number }>()
  private nextLock = 1
  private readonly metrics: Metrics | undefined
  private metricsServer: import('node:http').Server | undefined
  private readonly scrapes = new Map<number, (metrics: unknown[]) => void>()
  private nextScrape = 1
  private reloader: Reloader | undefined
  private readonly crashes: number[] = []
  private stopping = false
  private listening = 0
  private started: { resolve(): void; reject(err: Error): void } | undefined
  private readonly stopped: Promise<void>
  private allExited!: () => void

  constructor(
    private readonly configPath: string,
    private readonly config: Config,
  ) {
    this.log = pino(loggerOptions(config))
    this.metrics = config.metricsAddress ? new Metrics() : undefined
    this.stopped = new Promise((resolve) => (this.allExited = resolve))
  }

  /** Resolves once every worker listens; rejects (with every worker gone) when one cannot. */
  async start(): Promise<void> {
    if (this.metrics) {
      try {
        this.metricsServer = await this.metrics.listen(this.config.metricsAddress!, () => this.scrape())
      } catch (err) {
        throw listenFailure('the metrics listener', 'metrics_address', this.config.metricsAddress!, err)
      }
    }
    cluster.on('message', (worker, message: unknown) => {
      if (isOurs<ToPrimary>(message)) this.heard(worker, message)
    })
    cluster.on('exit', (worker, code, signal) => this.exited(worker, code, signal))
    const ready = new Promise<void>((resolve, reject) => (this.started = { resolve, reject }))
    for (let i = 0; i < this.config.workers; i++) cluster.fork()
    await ready
    logStartWarnings(this.log, this.config)
    this.reloader = startReloader(this.configPath, this.config, {
      log: this.log,
      metrics: this.metrics,
      apply: () => this.broadcast({ gh: 'reload' }),
    })
    this.log.info(
      { workers: this.config.workers, address: `${this.config.address.host}:${this.config.address.port}` },
      'Gatehouse is listening with its workers',
    )
  }

  private send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message)
  }

  private broadcast(message: ToWorker, except?: Worker): void {
    for (const worker of Object.values(cluster.workers ?? {})) if (worker && worker !== except) this.send(worker, message)
  }

  private heard(worker: Worker, message: ToPrimary): void {
    switch (message.gh) {
      case 'setup?':
        return this.send(worker, { gh: 'setup', secrets: this.secrets })
      case 'listening':
        if (++this.listening === this.config.workers) this.started?.resolve()
        return
      case 'failed': {
        const err = isErrorCode(message.code) ? new GatehouseError(message.code, message.message) : new Error(message.message)
        if (this.started) return void this.stop(0).then(() => this.started?.reject(err))
        this.log.error({ err }, 'a worker could not start')
        return
      }
      case 'call':
        return this.answer(worker, message)
      case 'release': {
        const held = this.locks.get(message.lock)
        this.locks.delete(message.lock)
        held?.lock.release()
        return
      }
      case 'signInSucceeded':
        return this.signInLimits.succeeded(message.attempt)
      case 'news':
        // In order on each channel: a refresh is heard before the lock it held is let go.
        return this.broadcast({ gh: 'news', news: message.news }, worker)
      case 'metrics':
        this.scrapes.get(message.id)?.(message.metrics)
        return
    }
  }

  private answer(worker: Worker, call: Extract<ToPrimary, { gh: 'call' }>): void {
    const reply = (value: unknown) => this.send(worker, { gh: 'answer', id: call.id, value })
    switch (call.op) {
      case 'stash':
        return void this.shared.stash(...call.args).then(reply)
      case 'unstash':
        return void this.shared.unstash(...call.args).then(reply)
      case 'claimOnce':
        return void this.shared.claimOnce(...call.args).then(reply)
      case 'signInAttempt':
        return void this.signInLimits.attempt(...call.args).then(reply)
      case 'lock':
        return void this.shared.lock(...call.args).then((lock) => {
          // The worker may have died while it waited: the lock goes to the next in line.
          if (!worker.isConnected()) return lock.release()
          const id = this.nextLock++
          this.locks.set(id, { lock, worker: worker.id })
          reply(id)
        })
    }
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    for (const [id, held] of this.locks) {
      if (held.worker !== worker.id) continue
      this.locks.delete(id)
      held.lock.release()
    }
    if (Object.keys(cluster.workers ?? {}).length === 0 && this.stopping) return this.allExited()
    if (this.stopping) return
    if (this.started !== undefined) {
      // Died before it listened, without saying why (a crash while loading).
      const err = new Error(`a worker exited while starting (${signal ?? `exit code ${code}`}); run \`gatehouse check\` and see its output above`)
      void this.stop(0).then(() => this.started?.reject(err))
      return
    }
    const now = Date.now()
    this.crashes.push(now)
    while (this.crashes[0]! < now - CRASH_WINDOW_MS) this.crashes.shift()
    if (this.crashes.length >= CRASH_LIMIT) {
      this.log.fatal({ pid: worker.process.pid, code, signal }, `workers died ${CRASH_LIMIT} times within a minute; stopping`)
      void this.stop(1)
      return
    }
    this.log.error({ pid: worker.process.pid, code, signal }, 'a worker stopped unexpectedly; starting another')
    cluster.fork()
  }

  /** Every process's metrics, summed (gauges where a sum means nothing say how to combine). */
  private async scrape(): Promise<string> {
    const own = await this.metrics!.registry.getMetricsAsJSON()
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())
    const theirs = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<unknown[]>((resolve) => {
            const id = this.nextScrape++
            const timer = setTimeout(() => done([]), METRICS_WAIT_MS)
            const done = (metrics: unknown[]) => {
              clearTimeout(timer)
              this.scrapes.delete(id)
              resolve(metrics)
            }
            this.scrapes.set(id, done)
            this.send(worker, { gh: 'metrics?', id })
          }),
      ),
    )
    return AggregatorRegistry.aggregate([own, ...theirs] as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics()
  }

  /** Tells every worker to drain and exit; kills those still there after the drain time. */
  stop(exitCode: number): Promise<void> {
    if (!this.stopping) {
      this.stopping = true
      if (this.started === undefined) this.log.info('shutting down: the workers drain requests in flight')
      this.reloader?.close()
      if (Object.keys(cluster.workers ?? {}).length === 0) this.allExited()
      this.broadcast({ gh: 'stop' })
      const late = setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
      }, this.config.shutdownTimeoutMs + 2_000)
      late.unref()
      void this.stopped.then(() => {
        clearTimeout(late)
        this.metricsServer?.close()
        if (this.started === undefined) process.exit(exitCode)
      })
    }
    return this.stopped
  }

  /** Start-up is over: from now on a dead worker is replaced, not a failed start. */
  running(): void {
    this.started = undefined
  }
}

/** Runs the primary until SIGTERM or SIGINT; rejects when the workers cannot start. */
export async function runPrimary(configPath: string, config: Config): Promise<void> {
  const primary = new Primary(configPath, config)
  await primary.start()
  primary.running()
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void primary.stop(0))
}
