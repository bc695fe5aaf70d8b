// The session store of the running config, kept across reloads while the session
// settings stay the same, so a reload loses no cache, lock or connection. A store that
// is replaced is closed only after requests in flight have had time to finish with it.

import type { SessionSettings } from '../config/compile-auth.js'
import { CookieSessionStore } from './cookie-store.js'
import { RedisSessionStore } from './redis-store.js'
import { Revocations } from './revocations.js'
import { LocalShare, type SessionShare } from './share.js'
import type { SessionStore } from './store.js'

/** How long a replaced store stays usable for requests that started before the reload. */
const RETIRE_AFTER_MS = 30_000

export class SessionStores {
  /** Shared by every store this keeps, so a reload forgets no sign-out. */
  readonly revocations = new Revocations()
  private current: { key: string; store: SessionStore } | undefined
  private readonly retiring = new Set<SessionStore>()

  /** `observeRead` hears how long each read of a server-side store took (metrics);
   *  `share` reaches the other workers of this run (cookie store). */
  constructor(
    private readonly observeRead?: (ms: number) => void,
    private readonly share: SessionShare = new LocalShare(),
  ) {}

  /** The store for these settings: the current one when they have not changed. */
  forSettings(settings: SessionSettings): SessionStore {
    const key = JSON.stringify(settings)
    if (this.current?.key === key) return this.current.store
    const previous = this.current?.store
    const store =
      settings.store.kind === 'redis'
        ? new RedisSessionStore(settings, this.revocations, settings.store, this.observeRead)
        : new CookieSessionStore(settings, this.revocations, this.share)
    this.current = { key, store }
    if (previous) {
      this.retiring.add(previous)
      setTimeout(() => {
        this.retiring.delete(previous)
        void previous.close()
      }, RETIRE_AFTER_MS).unref()
    }
    return this.current.store
  }

  async close(): Promise<void> {
    const stores = [...this.retiring, ...(this.current ? [this.current.store] : [])]
    this.retiring.clear()
    this.current = undefined
    await Promise.all(stores.map((s) => s.close()))
  }
}
