// Everything the proxy derives from one Config. A reload builds a new Runtime and swaps
// the reference; requests in flight keep the one they started with.

import type { Config } from '../config/compile.js'
import type { Route } from '../routes/route.js'
import { RouteTable } from '../routes/table.js'
import { CookieSessionStore } from '../session/cookie-store.js'
import type { SessionStore } from '../session/store.js'
import type { RouteUpstreams } from '../upstream/balancer.js'
import type { UpstreamPools } from '../upstream/pools.js'

export interface Runtime {
  readonly config: Config
  readonly table: RouteTable
  readonly upstreams: ReadonlyMap<Route, RouteUpstreams>
  readonly sessions: SessionStore
}

export function buildRuntime(config: Config, pools: UpstreamPools): Runtime {
  return Object.freeze({
    config,
    table: new RouteTable(config.routes),
    upstreams: pools.build(config.routes),
    sessions: new CookieSessionStore(config.session),
  })
}
