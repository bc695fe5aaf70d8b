import type { Route } from '../routes/route.js'

export type Verdict = 'allow' | 'deny' | 'sign_in'

/**
 * Until route policies are evaluated, only routes marked
 * allow_public_unauthenticated_access are served; every other route asks for a
 * sign-in. Deny by default: nothing is reachable unless the operator said so.
 */
export function authorize(route: Route): Verdict {
  return route.public ? 'allow' : 'sign_in'
}
