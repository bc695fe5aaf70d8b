// Exclusive access per key within this process: a queue of waiters per key, each let in
// when the previous holder releases or its hold times out (a holder that crashed mid-way
// must not block the session forever). And keys that may be claimed only once.

import { newCode, type SessionLock } from './store.js'

export class LocalLocks {
  private readonly tails = new Map<string, Promise<void>>()

  constructor(private readonly timeoutMs: number) {}

  acquire(key: string): Promise<SessionLock> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const tail = previous.then(() => released)
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return previous.then(() => {
      const timer = setTimeout(release, this.timeoutMs)
      timer.unref()
      let done = false
      return {
        release: () => {
          if (done) return
          done = true
          clearTimeout(timer)
          release()
        },
      }
    })
  }
}

/** Keys claimed once within their time to live, in this process (bounded). */
export class OnceKeys {
  private readonly until = new Map<string, number>()

  claim(key: string, ttlSeconds: number, now = Date.now()): boolean {
    for (const [k, expires] of this.until) {
      if (expires > now) break
      this.until.delete(k)
    }
    const seen = this.until.get(key)
    if (seen !== undefined && seen > now) return false
    if (this.until.size >= 100_000) this.until.delete(this.until.keys().next().value!)
    this.until.set(key, now + ttlSeconds * 1000)
    return true
  }
}

/** One-time values under fresh codes, in this process (bounded). */
export class Stash {
  private readonly values = new Map<string, { value: string; until: number }>()

  put(value: string, ttlSeconds: number, now = Date.now()): string {
    for (const [code, entry] of this.values) {
      if (entry.until > now) break
      this.values.delete(code)
    }
    if (this.values.size >= 10_000) this.values.delete(this.values.keys().next().value!)
    const code = newCode()
    this.values.set(code, { value, until: now + ttlSeconds * 1000 })
    return code
  }

  take(code: string, now = Date.now()): string | undefined {
    const entry = this.values.get(code)
    this.values.delete(code)
    return entry !== undefined && entry.until > now ? entry.value : undefined
  }
}
