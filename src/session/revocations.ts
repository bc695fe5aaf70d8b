// Sessions ended before their time, remembered until they would have expired anyway, so
// a copy of a cookie taken before a sign-out opens nothing. A revocation names one
// session (sign-out), every session of a user at an IdP, or every session begun in one
// of the IdP's own sessions (back-channel logout: its `sub` or `sid`). Anything that
// holds a session open (a websocket tunnel) watches for its end here. In-process; the
// Redis store makes revocation fleet-wide by deleting sessions and telling replicas.

import type { SessionData } from './store.js'

/** What a revocation names. */
export type RevocationMatch = { readonly sid: string } | { readonly idp: string; readonly sub: string } | { readonly idp: string; readonly idpSid: string }

/** Bounded: past this many live revocations the oldest is forgotten, rather than letting
 *  a flood of sign-outs grow memory without end. */
const MAX_REVOKED = 100_000

const sidKey = (sid: string) => `sid ${sid}`
const subjectKey = (idp: string, sub: string) => `sub ${idp}\n${sub}`
const idpSessionKey = (idp: string, idpSid: string) => `op ${idp}\n${idpSid}`

function keyOf(match: RevocationMatch): string {
  if ('sid' in match) return sidKey(match.sid)
  return 'sub' in match ? subjectKey(match.idp, match.sub) : idpSessionKey(match.idp, match.idpSid)
}

/** The keys a session answers to. */
function keysOf(data: SessionData): string[] {
  const keys = [sidKey(data.sid), subjectKey(data.idp, data.sub)]
  if (data.idpSid !== undefined) keys.push(idpSessionKey(data.idp, data.idpSid))
  return keys
}

export class Revocations {
  /** key -> when it was revoked and until when to remember it (seconds). */
  private readonly revoked = new Map<string, { readonly at: number; readonly until: number }>()
  private readonly watchers = new Map<string, Set<() => void>>()

  /** Revokes what `match` names; remembered until `until` (the longest a matching session
   *  could still live). Watchers of matching sessions hear of it once. */
  revoke(match: RevocationMatch, until: number, now = Date.now() / 1000): void {
    this.sweep(now)
    const key = keyOf(match)
    if (until > now) {
      if (this.revoked.size >= MAX_REVOKED) this.revoked.delete(this.revoked.keys().next().value!)
      this.revoked.delete(key)
      this.revoked.set(key, { at: now, until })
    }
    const watching = this.watchers.get(key)
    if (watching === undefined) return
    this.watchers.delete(key)
    for (const ended of watching) ended()
  }

  /** Whether a revocation covers this session: its id, or its user or IdP session since
   *  it began (a sign-in after a back-channel logout is a new, valid session). */
  isRevoked(data: SessionData): boolean {
    if (this.revoked.size === 0) return false
    if (this.revoked.has(sidKey(data.sid))) return true
    const began = data.signedInAt ?? 0
    for (const key of keysOf(data).slice(1)) {
      const entry = this.revoked.get(key)
      if (entry !== undefined && entry.at >= began) return true
    }
    return false
  }

  /** Calls `ended` once when a revocation covers this session; the returned function
   *  stops watching. */
  watch(data: SessionData, ended: () => void): () => void {
    let done = false
    const once = () => {
      if (done) return
      done = true
      stop()
      ended()
    }
    const keys = keysOf(data)
    for (const key of keys) {
      let watching = this.watchers.get(key)
      if (watching === undefined) this.watchers.set(key, (watching = new Set()))
      watching.add(once)
    }
    const stop = () => {
      for (const key of keys) {
        const watching = this.watchers.get(key)
        if (watching === undefined) continue
        watching.delete(once)
        if (watching.size === 0) this.watchers.delete(key)
      }
    }
    return stop
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.revoked) {
      if (entry.until > now) break
      this.revoked.delete(key)
    }
  }
}
