// Who gets into which demo route, found by running each route's policy for each demo
// user exactly as `gatehouse explain` would: the banner and the home page show this
// table, so an edit of policies/demo.yaml shows in them at the next start, with nothing
// to keep in step by hand.

import type { Config } from '../config/compile.js'
import { mapClaims } from '../auth/claims.js'
import type { IdpSettings } from '../auth/providers.js'
import type { UserClaims, Verdict } from '../policy/index.js'
import type { Route } from '../routes/route.js'
import { explainRequest, requestFromFlags } from '../tools/explain.js'
import type { ListenAddress } from '../types.js'
import { scopeClaims, userClaims, type OidcUser } from './oidc-users.js'

/** One column of the table: a route (or the home page's routes, one per host name). */
export interface DemoPlace {
  /** Short name: the first label of the host ("private"), or "home". */
  readonly label: string
  readonly route: Route
  /** Where to open it; the home page has two addresses. */
  readonly urls: readonly string[]
  readonly home: boolean
}

export interface DemoAccess {
  readonly places: readonly DemoPlace[]
  /** One row with no user (nobody signed in), then one per demo user. */
  readonly rows: readonly { readonly user: OidcUser | undefined; readonly verdicts: readonly Verdict[] }[]
  /** Where the websocket echo page is: a websocket route to the demo upstream that
   *  needs a signed-in user (so the echo can say who), or undefined. */
  readonly websocketPage: string | undefined
}

const routeUrl = (route: Route) => `${route.origin.scheme}://${route.hostKey}${route.match.kind === 'regex' ? '/' : route.match.value}`

/** The address a browser on this machine uses for a listener (a wildcard means loopback). */
export function localHost(address: ListenAddress): string {
  if (address.host === '0.0.0.0' || address.host === '') return '127.0.0.1'
  if (address.host === '::') return '[::1]'
  return address.host.includes(':') ? `[${address.host}]` : address.host
}

/** The demo's home page: a route to the demo upstream on Gatehouse's own address, or on
 *  localhost at its port (what someone types first). */
export function isHomeRoute(route: Route, gatehouse: ListenAddress): boolean {
  const port = route.origin.port ?? (route.origin.scheme === 'https' ? 443 : 80)
  return port === gatehouse.port && (route.origin.hostname === 'localhost' || route.origin.hostname === localHost(gatehouse).replace(/^\[|\]$/g, ''))
}

/** The user a session of this demo user would hold: the claims the IdP releases for the
 *  scopes Gatehouse asks for, mapped with the IdP's settings, as a sign-in maps them. */
export function sessionUser(user: OidcUser, idp: IdpSettings | undefined, users: readonly OidcUser[]): UserClaims {
  const all = userClaims(user) as Record<string, unknown>
  let claims = all
  if (idp) {
    const released = scopeClaims(users)
    const names = new Set(idp.scopes.flatMap((scope) => released[scope] ?? []))
    claims = Object.fromEntries(Object.entries(all).filter(([name]) => names.has(name)))
  }
  if (!idp) return { id: user.id, email: user.email, groups: user.groups ?? [], claims }
  const mapped = mapClaims(idp, claims)
  return { id: mapped.sub, email: mapped.email, groups: mapped.groups, claims }
}

/** The access table for `config`'s routes, for nobody signed in and for each user. */
export function demoAccess(
  config: Config,
  users: readonly OidcUser[],
  idp: IdpSettings | undefined,
  upstream: ListenAddress | undefined,
  now = Date.now(),
): DemoAccess {
  const places: DemoPlace[] = []
  let home: { route: Route; urls: string[] } | undefined
  for (const route of config.routes) {
    // A wildcard host cannot be opened as such; it is left out of the table.
    if (route.origin.hostname.startsWith('*.')) continue
    if (isHomeRoute(route, config.address)) {
      if (home) home.urls.push(routeUrl(route))
      else home = { route, urls: [routeUrl(route)] }
      continue
    }
    const label = route.origin.hostname.endsWith('.localhost') ? route.origin.hostname.split('.')[0] : route.id
    places.push({ label, route, urls: [routeUrl(route)], home: false })
  }
  if (home) {
    // localhost first: it is what people type, and what the banner says to open.
    home.urls.sort((a, b) => Number(b.includes('//localhost')) - Number(a.includes('//localhost')))
    places.unshift({ label: 'home', route: home.route, urls: home.urls, home: true })
  }

  const verdict = (place: DemoPlace, user: UserClaims | undefined): Verdict => {
    const request = requestFromFlags({ url: place.urls[0] })
    if ('error' in request) return 'deny'
    const result = explainRequest(config, request.value, user, now)
    return 'error' in result ? 'deny' : result.value.explanation.decision.verdict
  }
  const rows = [undefined, ...users].map((user) => ({
    user,
    verdicts: places.map((place) => verdict(place, user && sessionUser(user, idp, users))),
  }))

  const upstreamOrigin = upstream && `http://${localHost(upstream)}:${upstream.port}`
  const toUpstream = (p: DemoPlace) => upstreamOrigin !== undefined && p.route.upstreams.some((u) => u.origin === upstreamOrigin)
  const ws = places.filter((p) => p.route.allowWebsockets && toUpstream(p))
  const wsPlace = ws.find((p) => rows[0].verdicts[places.indexOf(p)] === 'sign_in') ?? ws[0]
  const websocketPage = wsPlace && `${wsPlace.urls[0].replace(/\/$/, '')}/ws.html`
  return { places, rows, websocketPage }
}

/** How a verdict shows to the person at the browser. */
export const SEEN: Readonly<Record<Verdict, string>> = Object.freeze({ allow: 'opens', sign_in: 'sign in', deny: '403' })

/** "alice (admins)", "(nobody signed in)". */
export const rowLabel = (user: OidcUser | undefined) =>
  user ? `${user.id} (${user.groups?.length ? user.groups.join(', ') : 'no groups'})` : 'nobody signed in'
