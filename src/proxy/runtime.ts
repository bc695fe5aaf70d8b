// Everything the proxy derives from one Config. A reload builds a new Runtime and swaps
// the reference; requests in flight keep the one they started with.

import type { Config } from '../config/compile.js'
import type { Route } from '../routes/route.js'
import { RouteTable } from '../routes/table.js'
import type { SessionStore } from '../session/store.js'
import type { SessionStores } from '../session/stores.js'
import type { RouteUpstreams } from '../upstream/balancer.js'
import type { UpstreamPools } from '../upstream/pools.js'

export interface Runtime {
  readonly config: Config
  readonly table: RouteTable
  readonly upstreams: ReadonlyMap<Route, RouteUpstreams>
  readonly sessions: SessionStore
}

/** `pools` and `stores` outlive runtimes: what a new config still uses is kept. */
export function buildRuntime(config: Config, pools: UpstreamPools, stores: SessionStores): Runtime {
  return Object.freeze({
    config,
    table: new RouteTable(config.routes),
    upstreams: pools.build(config.routes),
    sessions: stores.forSettings(config.session),
  })
}
