// The one place that turns a policy verdict into what happens to the request, in
// Pomerium's order: a criterion that needed a user and had none -> sign in; a matching
// deny -> 403; a matching allow -> forward; anything else -> 403. Transports only render
// the outcome (a redirect, a 401 with sign_in_url, a tunnel, a forward-auth 200).

import type { ErrorCode } from '../errors.js'
import { signInUrl } from '../http/endpoints.js'
import type { Verdict } from '../policy/index.js'
import type { Route } from '../routes/route.js'
import type { Session } from '../session/store.js'
import type { Runtime } from './runtime.js'

/** Set-Cookie values every answer carries: a refreshed session, or the clearing of one
 *  that did not open. Undefined when there is nothing to set. */
type Cookies = readonly string[] | undefined

export interface Forward {
  readonly kind: 'forward'
  /** The runtime the decision was made with: the route's upstreams belong to it, even
   *  if a reload has swapped in another since. */
  readonly runtime: Runtime
  readonly route: Route
  readonly session: Session | undefined
  /** The assertion's audience (and issuer): the host the request was for. */
  readonly audience: string
  /** The client's address, which the policy judged and per-client limits count. */
  readonly client: string
  readonly setCookies: Cookies
}

export interface SignIn {
  readonly kind: 'sign_in'
  readonly route: Route
  /** Absolute; it brings the user back to the request's URL afterwards. */
  readonly signInUrl: string
  readonly setCookies: Cookies
}

export interface Refusal {
  readonly kind: 'refuse'
  readonly code: ErrorCode
  readonly detail?: string
  /** Undefined when no route was found. */
  readonly route?: Route
  /** Who was refused (a policy denial), for the 403 page. */
  readonly session?: Session
  /** The URL that was refused: "sign in as someone else" comes back to it. */
  readonly returnTo?: string
  readonly setCookies: Cookies
}

export type Outcome = Forward | SignIn | Refusal

export interface Judged {
  readonly runtime: Runtime
  readonly route: Route
  readonly session: Session | undefined
  readonly setCookies: Cookies
  readonly audience: string
  readonly client: string
  /** Scheme and host the browser used. */
  readonly origin: string
  /** The URL to come back to after signing in. */
  readonly returnTo: string
}

export function outcomeFor(verdict: Verdict, j: Judged): Outcome {
  switch (verdict) {
    case 'sign_in':
      return { kind: 'sign_in', route: j.route, signInUrl: signInUrl(j.origin, j.returnTo, j.route.idp), setCookies: j.setCookies }
    case 'deny':
      return { kind: 'refuse', code: 'GH_ERR_FORBIDDEN', route: j.route, session: j.session, returnTo: j.returnTo, setCookies: j.setCookies }
    case 'allow':
      return { kind: 'forward', runtime: j.runtime, route: j.route, session: j.session, audience: j.audience, client: j.client, setCookies: j.setCookies }
  }
  // Deny by default: a verdict this switch does not know never forwards.
  return { kind: 'refuse', code: 'GH_ERR_FORBIDDEN', route: j.route, setCookies: j.setCookies }
}

/** A refusal before (or without) a decision: bad host, no route, a bad path. */
export function refusal(code: ErrorCode, detail?: string, route?: Route, setCookies?: Cookies): Refusal {
  return { kind: 'refuse', code, detail, route, setCookies }
}
