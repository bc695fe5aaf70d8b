// Choosing an upstream among a route's `to` list: each member is a target with its
// keep-alive pool, picked by smooth weighted round robin.

import type { Pool } from 'undici'
import type { UpstreamTarget } from '../types.js'

export interface Upstream {
  readonly target: UpstreamTarget
  readonly pool: Pool
  /** The name the upstream's certificate must carry (and SNI): tls_server_name, else the
   *  host in `to`. Fixed here because undici and node:https would otherwise take the
   *  Host header, which preserve_host_header and host_rewrite set to something else. */
  readonly servername: string | undefined
}

/** Smooth weighted round robin (as nginx does): weights 5,1,1 give a,a,b,a,c,a,a. */
export class RouteUpstreams {
  private readonly current: number[]
  private readonly totalWeight: number

  constructor(readonly members: readonly Upstream[]) {
    this.current = members.map(() => 0)
    this.totalWeight = members.reduce((sum, m) => sum + m.target.weight, 0)
  }

  pick(): Upstream {
    const { members } = this
    if (members.length === 1) return members[0]
    let best = 0
    for (let i = 0; i < members.length; i++) {
      this.current[i] += members[i].target.weight
      if (this.current[i] > this.current[best]) best = i
    }
    this.current[best] -= this.totalWeight
    return members[best]
  }
}
