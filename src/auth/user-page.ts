// "Who am I": the user page (/.gatehouse/) and its JSON (/.gatehouse/user). Operators
// debug claim mappings here, so it shows every claim, but never a token: the JSON is
// readable by any script on the page.

import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/compile.js'
import { USER_JSON_PATH, USER_PAGE_PATH } from '../http/endpoints.js'
import { clientAddress } from '../http/request.js'
import type { Route } from '../routes/route.js'
import { parseCookies } from '../session/cookies.js'
import type { Session } from '../session/store.js'
import type { AuthDeps } from './deps.js'
import { userPage, type ReachableRoute, type WhoAmI } from './pages.js'

/** Claims that only make sense inside the sign-in (replay and token binding checks). */
const PROTOCOL_CLAIMS = new Set(['nonce', 'at_hash', 'c_hash', 's_hash'])

function whoAmI(config: Config, session: Session | undefined): WhoAmI {
  if (session === undefined) return { signed_in: false }
  const { data } = session
  return {
    signed_in: true,
    user: data.user,
    email: data.email,
    name: data.name,
    groups: data.groups,
    sub: data.sub,
    idp: data.idp,
    idp_name: config.idps.find((i) => i.id === data.idp)?.name,
    signed_in_at: data.signedInAt,
    expires_at: session.exp,
    claims: Object.fromEntries(Object.entries(data.claims).filter(([k]) => !PROTOCOL_CLAIMS.has(k))),
  }
}

/** The address a user opens for a route, when it has exactly one. */
function routeUrl(route: Route): string | undefined {
  if (route.origin.hostname.startsWith('*.') || route.match.kind === 'regex') return undefined
  return `${route.origin.scheme}://${route.hostKey}${route.match.value}`
}

/** The routes whose policy lets this user in with a plain GET from where they are now:
 *  the same engine, input and clock the proxy would use for that request. */
function reachableRoutes(config: Config, session: Session, client: string): ReachableRoute[] {
  const now = Date.now()
  return config.routes
    .filter((route) => {
      const path = route.match.kind === 'regex' ? '/' : route.match.value
      const verdict = route.policy.evaluate({
        request: { method: 'GET', path, host: route.origin.hostname, sourceIp: client, time: now, origin: undefined, accessControlRequestMethod: undefined },
        user: session.user,
      }).verdict
      return verdict === 'allow'
    })
    .map((route) => ({ name: route.id, url: routeUrl(route) }))
}

export function registerUserPage(app: FastifyInstance, deps: AuthDeps): void {
  const current = async (request: FastifyRequest) => {
    const { config, sessions } = deps.runtime()
    const found = await sessions.get(parseCookies(request.headers.cookie))
    // As everywhere: a session of an IdP no longer configured is no session.
    const session = typeof found === 'string' || !config.idpIds.has(found.data.idp) ? undefined : found
    return { config, session }
  }
  app.get(USER_JSON_PATH, async (request, reply) => {
    const { config, session } = await current(request)
    return reply.header('cache-control', 'no-store').send(whoAmI(config, session))
  })
  app.get(USER_PAGE_PATH, async (request, reply) => {
    const { config, session } = await current(request)
    const reachable = session ? reachableRoutes(config, session, clientAddress(request.raw, config.isTrustedProxy)) : []
    return config.pages.send(reply, 200, userPage(config.pages, whoAmI(config, session), reachable))
  })
}
