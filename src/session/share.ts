// What the processes of one run share about cookie-store sessions, beyond the cookies
// themselves: one-time codes (sign-in handoffs), replay keys (logout tokens' jti), refresh
// locks, and news of revocations and refreshes. In one process it is all local; with
// `workers` the primary keeps it (src/cluster), so a sign-out, a handoff or a refresh on
// one worker holds on every other. The Redis store keeps all of this in Redis instead.

import { LocalLocks, OnceKeys, Stash } from './lock.js'
import type { RevocationMatch } from './revocations.js'
import type { SessionData, SessionLock } from './store.js'

/** A refresh holds its session this long at most: a holder that died lets the next in. */
export const LOCK_TIMEOUT_MS = 15_000

export interface SessionNews {
  /** Another process revoked what `match` names, until `until` (seconds). */
  revoked(match: RevocationMatch, until: number): void
  /** Another process refreshed this session, which keeps its end `exp` (seconds). */
  refreshed(data: SessionData, exp: number): void
}

export interface SessionShare {
  stash(value: string, ttlSeconds: number): Promise<string>
  unstash(code: string): Promise<string | undefined>
  claimOnce(key: string, ttlSeconds: number): Promise<boolean>
  lock(key: string): Promise<SessionLock>
  /** Tells the other processes; they hear it through their `listen` callback. */
  announce(news: { revoked: [RevocationMatch, number] } | { refreshed: [SessionData, number] }): void
  /** The store hearing of other processes' revocations and refreshes; returns how to stop. */
  listen(news: SessionNews): () => void
}

/** One process: nothing to tell anyone. */
export class LocalShare implements SessionShare {
  private readonly locks = new LocalLocks(LOCK_TIMEOUT_MS)
  private readonly claims = new OnceKeys()
  private readonly stashed = new Stash()

  async stash(value: string, ttlSeconds: number): Promise<string> {
    return this.stashed.put(value, ttlSeconds)
  }

  async unstash(code: string): Promise<string | undefined> {
    return this.stashed.take(code)
  }

  async claimOnce(key: string, ttlSeconds: number): Promise<boolean> {
    return this.claims.claim(key, ttlSeconds)
  }

  lock(key: string): Promise<SessionLock> {
    return this.locks.acquire(key)
  }

  announce(): void {}

  listen(): () => void {
    return () => {}
  }
}
