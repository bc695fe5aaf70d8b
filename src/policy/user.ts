import { findClaim } from './claims.js'
import type { PreparedUser, UserClaims } from './types.js'

/** Emails count only with exactly one `@`: `a@b@evil.com` must not pass as evil.com. */
function splitEmail(email: string | undefined): { email: string | undefined; domain: string | undefined } {
  if (typeof email !== 'string') return { email: undefined, domain: undefined }
  const lower = email.toLowerCase()
  const at = lower.indexOf('@')
  if (at <= 0 || at !== lower.lastIndexOf('@') || at === lower.length - 1) return { email: undefined, domain: undefined }
  return { email: lower, domain: lower.slice(at + 1) }
}

/** Reshapes a user once (per session), so evaluation only reads prepared values. */
export function prepareUser(user: UserClaims): PreparedUser {
  const groups = (user.groups ?? []).map(String)
  return {
    id: user.id,
    ...splitEmail(user.email),
    groups,
    groupSet: new Set(groups),
    claims: user.claims ?? {},
    claimCache: new Map(),
  }
}

/** Marks a claim looked up and found missing, so the miss is cached too. */
const NO_CLAIM: readonly string[] = Object.freeze([])

/** A claim's values as a list of strings (see findClaim). Pomerium treats every claim as
 *  a list, so a string claim is a one-element list. Missing claims and objects give
 *  undefined. */
export function claimValues(user: PreparedUser, name: string, paths: readonly (readonly string[])[]): readonly string[] | undefined {
  const cache = user.claimCache
  const cached = cache.get(name)
  if (cached !== undefined) return cached === NO_CLAIM ? undefined : cached
  const list = toList(findClaim(user.claims, name, paths))
  cache.set(name, list ?? NO_CLAIM)
  return list
}

function toList(value: unknown): readonly string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (Array.isArray(value)) return value.filter((v) => v !== null && typeof v !== 'object').map(String)
  if (typeof value === 'object') return undefined
  return [String(value)]
}
