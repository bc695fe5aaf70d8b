// Choosing an upstream among a route's `to` list. Each member is a target with its
// keep-alive pool and its health: taken out after failed health checks or a failed
// connection (passive ejection), back after passing checks or a cool-down. Traffic only
// goes to healthy members; none left means 503.

import { createHash } from 'node:crypto'
import type { Pool } from 'undici'
import type { Balancing, HealthCheck } from '../routes/route.js'
import type { UpstreamTarget } from '../types.js'

/** How long a member that refused a connection stays out, absent active checks. */
export const EJECTION_MS = 10_000

export class Upstream {
  /** Requests in flight, for least_request. */
  inFlight = 0
  private healthy = true
  private ejectedUntil = 0
  private streak = 0

  constructor(
    readonly target: UpstreamTarget,
    readonly pool: Pool,
    /** The name the upstream's certificate must carry (and SNI): tls_server_name, else
     *  the host in `to`. Fixed here because undici and node:https would otherwise take
     *  the Host header, which preserve_host_header and host_rewrite set otherwise. */
    readonly servername: string | undefined,
  ) {}

  /** Passing active checks (a route's only member is never ejected passively: with
   *  nowhere else to go, each request tries it and reports its own failure). */
  get passesChecks(): boolean {
    return this.healthy
  }

  get available(): boolean {
    if (this.ejectedUntil !== 0 && this.ejectedUntil <= Date.now()) this.ejectedUntil = 0
    return this.healthy && this.ejectedUntil === 0
  }

  /** A connection failed: out for a while, even between active checks. */
  eject(now = Date.now()): void {
    this.ejectedUntil = now + EJECTION_MS
  }

  /** One active check's result; the thresholds decide when health flips. */
  checked(ok: boolean, check: HealthCheck): void {
    if (ok === this.healthy) {
      this.streak = 0
      if (ok) this.ejectedUntil = 0
      return
    }
    this.streak++
    if (this.streak >= (ok ? check.healthyThreshold : check.unhealthyThreshold)) {
      this.healthy = ok
      this.streak = 0
      if (ok) this.ejectedUntil = 0
    }
  }
}

/** A stable number for a key (a session id), for sticky choices. */
function hash(key: string, member: number): number {
  return createHash('sha256').update(`${member}\n${key}`).digest().readUInt32BE(0)
}

export class RouteUpstreams {
  private readonly current: number[]
  private readonly single: Upstream | undefined

  constructor(
    readonly members: readonly Upstream[],
    readonly balancing: Balancing,
  ) {
    this.current = members.map(() => 0)
    this.single = members.length === 1 ? members[0] : undefined
  }

  /**
   * A healthy member, or undefined when none is left. `stickyKey` (the session id)
   * keeps a user on one member with sticky_session (rendezvous hashing, so only the
   * users of a member that leaves move); `avoid` is a member that just failed (a retry).
   */
  pick(stickyKey?: string, avoid?: Upstream): Upstream | undefined {
    const single = this.single
    if (single !== undefined) return single.passesChecks && single !== avoid ? single : undefined
    switch (this.balancing) {
      case 'least_request':
        return this.leastRequest(avoid)
      case 'random':
        return this.random(avoid)
      case 'sticky_session':
        return stickyKey === undefined ? this.roundRobin(avoid) : this.sticky(stickyKey, avoid)
      default:
        return this.roundRobin(avoid)
    }
  }

  /** Smooth weighted round robin (as nginx does): weights 5,1,1 give a,a,b,a,c,a,a. */
  private roundRobin(avoid: Upstream | undefined): Upstream | undefined {
    const { members, current } = this
    let best = -1
    let total = 0
    for (let i = 0; i < members.length; i++) {
      const m = members[i]
      if (!m.available || m === avoid) continue
      current[i] += m.target.weight
      total += m.target.weight
      if (best === -1 || current[i] > current[best]) best = i
    }
    if (best === -1) return undefined
    current[best] -= total
    return members[best]
  }

  private leastRequest(avoid: Upstream | undefined): Upstream | undefined {
    let best: Upstream | undefined
    for (const m of this.members) {
      if (!m.available || m === avoid) continue
      // Fewest in flight per unit of weight.
      if (best === undefined || m.inFlight / m.target.weight < best.inFlight / best.target.weight) best = m
    }
    return best
  }

  private random(avoid: Upstream | undefined): Upstream | undefined {
    const candidates = this.members.filter((m) => m.available && m !== avoid)
    let total = 0
    for (const m of candidates) total += m.target.weight
    let ticket = Math.random() * total
    for (const m of candidates) {
      ticket -= m.target.weight
      if (ticket < 0) return m
    }
    return candidates.at(-1)
  }

  private sticky(key: string, avoid: Upstream | undefined): Upstream | undefined {
    let best: Upstream | undefined
    let bestScore = -1
    this.members.forEach((m, i) => {
      if (!m.available || m === avoid) return
      const score = hash(key, i) * m.target.weight
      if (score > bestScore) {
        best = m
        bestScore = score
      }
    })
    return best
  }
}
