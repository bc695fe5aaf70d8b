// A worker's side of the IPC channel to its primary: the run's secrets at start, the
// shared session state (SessionShare) and sign-in limits (SignInLimits), news from the
// other workers, reload orders and metric scrapes. A worker whose primary is gone fails every call rather than hanging.

import type { SignInAttempt, SignInLimits, SignInRefusal } from '../auth/sign-in-limits.js'
import type { RunSecrets } from '../config/run-secrets.js'
import type { RevocationMatch } from '../session/revocations.js'
import type { SessionNews, SessionShare } from '../session/share.js'
import type { SessionData, SessionLock } from '../session/store.js'
import { isOurs, type CallName, type Calls, type SessionNewsMessage, type ToPrimary, type ToWorker } from './messages.js'

export interface WorkerDuties {
  /** The primary accepted a new configuration on disk: load it. */
  reload(): void
  /** This worker's metrics, as prom-client's getMetricsAsJSON gives them (none: []). */
  metrics(): Promise<unknown[]>
  /** The run is stopping: drain and exit. */
  stop(): void
}

export class PrimaryChannel implements SessionShare, SignInLimits {
  private nextId = 1
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>()
  private readonly listeners = new Set<SessionNews>()
  private duties: WorkerDuties | undefined
  private secrets: ((secrets: RunSecrets) => void) | undefined
  private gone = false

  constructor() {
    process.on('message', (message: unknown) => {
      if (isOurs<ToWorker>(message)) this.heard(message)
    })
    process.once('disconnect', () => {
      this.gone = true
      for (const call of this.pending.values()) call.reject(new Error('the primary process is gone'))
      this.pending.clear()
    })
  }

  /** The run's secrets, asked for once the worker listens for the answer. */
  setup(): Promise<RunSecrets> {
    const given = new Promise<RunSecrets>((resolve) => (this.secrets = resolve))
    this.send({ gh: 'setup?' })
    return given
  }

  serveDuties(duties: WorkerDuties): void {
    this.duties = duties
  }

  /** `sent` is called once the message is on its way (or could not be). */
  send(message: ToPrimary, sent?: () => void): void {
    if (!this.gone && process.connected) process.send!(message, undefined, {}, () => sent?.())
    else sent?.()
  }

  private call<K extends CallName>(op: K, args: Calls[K]['args']): Promise<Calls[K]['value']> {
    if (this.gone) return Promise.reject(new Error('the primary process is gone'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.send({ gh: 'call', id, op, args } as ToPrimary)
    })
  }

  private heard(message: ToWorker): void {
    switch (message.gh) {
      case 'setup':
        this.secrets?.(message.secrets)
        this.secrets = undefined
        return
      case 'answer': {
        const call = this.pending.get(message.id)
        this.pending.delete(message.id)
        call?.resolve(message.value)
        return
      }
      case 'news':
        for (const listener of this.listeners) this.deliver(listener, message.news)
        return
      case 'reload':
        this.duties?.reload()
        return
      case 'stop':
        this.duties?.stop()
        return
      case 'metrics?': {
        const id = message.id
        void (this.duties?.metrics() ?? Promise.resolve([])).then(
          (metrics) => this.send({ gh: 'metrics', id, metrics }),
          () => this.send({ gh: 'metrics', id, metrics: [] }),
        )
        return
      }
    }
  }

  private deliver(listener: SessionNews, news: SessionNewsMessage): void {
    if ('revoked' in news) listener.revoked(...news.revoked)
    else listener.refreshed(...news.refreshed)
  }

  stash(value: string, ttlSeconds: number): Promise<string> {
    return this.call('stash', [value, ttlSeconds])
  }

  unstash(code: string): Promise<string | undefined> {
    return this.call('unstash', [code])
  }

  claimOnce(key: string, ttlSeconds: number): Promise<boolean> {
    return this.call('claimOnce', [key, ttlSeconds])
  }

  async lock(key: string): Promise<SessionLock> {
    const id = await this.call('lock', [key])
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.send({ gh: 'release', lock: id })
      },
    }
  }

  attempt(attempt: SignInAttempt): Promise<SignInRefusal | undefined> {
    return this.call('signInAttempt', [attempt])
  }

  succeeded(attempt: SignInAttempt): void {
    this.send({ gh: 'signInSucceeded', attempt })
  }

  announce(news: { revoked: [RevocationMatch, number] } | { refreshed: [SessionData, number] }): void {
    this.send({ gh: 'news', news })
  }

  listen(news: SessionNews): () => void {
    this.listeners.add(news)
    return () => this.listeners.delete(news)
  }
}
