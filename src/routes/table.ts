// Route lookup by host, then path. Cost depends on the host's label count and the
// path's branching depth in the prefix tree, never on the number of routes.

import { PrefixTree } from './prefix-tree.js'
import type { Route } from './route.js'

class HostRoutes {
  private readonly exact = new Map<string, Route>()
  private readonly regexes: Route[] = []
  private readonly prefixes = new PrefixTree<Route>()

  add(route: Route): void {
    const { match } = route
    if (match.kind === 'path') this.exact.set(match.value, route)
    else if (match.kind === 'regex') this.regexes.push(route)
    else this.prefixes.set(match.value, route)
  }

  /** Exact path first, then regexes in the order written, then the longest prefix. */
  find(path: string): Route | undefined {
    const exact = this.exact.get(path)
    if (exact) return exact
    for (const route of this.regexes) {
      if (route.match.kind === 'regex' && route.match.re.matches(path)) return route
    }
    return this.prefixes.longest(path)
  }
}

export class RouteTable {
  private readonly hosts = new Map<string, HostRoutes>()
  /** Keyed by the suffix after `*.`, port included when the route names one. */
  private readonly wildcards = new Map<string, HostRoutes>()

  constructor(routes: readonly Route[]) {
    for (const route of routes) {
      const wildcard = route.hostKey.startsWith('*.')
      const map = wildcard ? this.wildcards : this.hosts
      const key = wildcard ? route.hostKey.slice(2) : route.hostKey
      let entry = map.get(key)
      if (!entry) map.set(key, (entry = new HostRoutes()))
      entry.add(route)
    }
  }

  /**
   * `hostname` is lower-case without a trailing dot; `port` is undefined for the
   * scheme's default. The most specific host wins (exact, then the longest wildcard
   * suffix), and only that host's routes are searched, as in Envoy's virtual hosts.
   */
  find(hostname: string, port: string | undefined, path: string): Route | undefined {
    const suffix = port === undefined ? '' : `:${port}`
    const exact = this.hosts.get(suffix ? hostname + suffix : hostname)
    if (exact) return exact.find(path)
    if (this.wildcards.size === 0) return undefined
    for (let dot = hostname.indexOf('.'); dot !== -1; dot = hostname.indexOf('.', dot + 1)) {
      const entry = this.wildcards.get(hostname.slice(dot + 1) + suffix)
      if (entry) return entry.find(path)
    }
    return undefined
  }
}
