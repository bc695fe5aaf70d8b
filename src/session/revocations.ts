// Sessions ended before their time (signed out, revoked), remembered until they would
// have expired anyway, so a copy of the cookie taken before the sign-out opens nothing.
// Anything that holds a session open (a websocket tunnel) watches for its end here.
// In-process: a server-side store extends this fleet-wide.

/** Bounded: past this many live revocations the oldest is forgotten (and logged by the
 *  caller's store), rather than letting a flood of sign-outs grow memory without end. */
const MAX_REVOKED = 100_000

export class Revocations {
  /** sid -> when the session would have expired (seconds). Insertion order is expiry
   *  order closely enough for sweeping from the front. */
  private readonly revoked = new Map<string, number>()
  private readonly watchers = new Map<string, Set<() => void>>()

  revoke(sid: string, expiresAt: number, now = Math.floor(Date.now() / 1000)): void {
    this.sweep(now)
    if (expiresAt > now) {
      if (this.revoked.size >= MAX_REVOKED) this.revoked.delete(this.revoked.keys().next().value!)
      this.revoked.set(sid, expiresAt)
    }
    const watching = this.watchers.get(sid)
    if (watching === undefined) return
    this.watchers.delete(sid)
    for (const ended of watching) ended()
  }

  isRevoked(sid: string): boolean {
    return this.revoked.size > 0 && this.revoked.has(sid)
  }

  /** Calls `ended` once when `sid` is revoked; the returned function stops watching. */
  watch(sid: string, ended: () => void): () => void {
    let watching = this.watchers.get(sid)
    if (watching === undefined) this.watchers.set(sid, (watching = new Set()))
    watching.add(ended)
    return () => {
      watching.delete(ended)
      if (watching.size === 0 && this.watchers.get(sid) === watching) this.watchers.delete(sid)
    }
  }

  private sweep(now: number): void {
    for (const [sid, expiresAt] of this.revoked) {
      if (expiresAt > now) break
      this.revoked.delete(sid)
    }
  }
}
