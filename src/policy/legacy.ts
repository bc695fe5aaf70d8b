// Pomerium's older route fields, expressed as one PPL allow rule whose criteria are
// OR-ed, as Pomerium does.

import { parsePolicy, type Rule } from './compile.js'

export interface LegacyFields {
  allow_public_unauthenticated_access?: boolean
  allow_any_authenticated_user?: boolean
  allowed_users?: readonly string[]
  allowed_domains?: readonly string[]
  allowed_groups?: readonly string[]
  allowed_idp_claims?: Readonly<Record<string, readonly string[]>>
  cors_allow_preflight?: boolean
}

type ListField = 'allow_any_authenticated_user' | 'allowed_users' | 'allowed_domains' | 'allowed_groups' | 'allowed_idp_claims'

/** The fields among `keys` that let someone in: true, or a non-empty list or mapping. */
function inUse(fields: LegacyFields, keys: readonly ListField[]): ListField[] {
  return keys.filter((key) => {
    const value = fields[key]
    return (
      value === true ||
      (Array.isArray(value) && value.length > 0) ||
      (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0)
    )
  })
}

/** A broad grant next to allow-lists is contradictory: the lists would do nothing, and
 *  whoever wrote them surely meant them to narrow access. Refused, as Pomerium refuses
 *  it (Pomerium looks only at allowed_users and allowed_domains; every list counts here). */
export function legacyConflict(fields: LegacyFields): string | undefined {
  if (fields.allow_public_unauthenticated_access) {
    const lists = inUse(fields, ['allow_any_authenticated_user', 'allowed_users', 'allowed_domains', 'allowed_groups', 'allowed_idp_claims'])
    if (lists.length > 0) return `allow_public_unauthenticated_access cannot be combined with ${lists.join(', ')}: public access already lets everyone in`
  }
  if (fields.allow_any_authenticated_user) {
    const lists = inUse(fields, ['allowed_users', 'allowed_domains', 'allowed_groups', 'allowed_idp_claims'])
    if (lists.length > 0) {
      return `allow_any_authenticated_user cannot be combined with ${lists.join(', ')}: any signed-in user already gets in, so the lists do nothing`
    }
  }
  return undefined
}

export function legacyRules(fields: LegacyFields, label: string): Rule[] {
  const any: Record<string, unknown>[] = []
  if (fields.allow_public_unauthenticated_access) any.push({ accept: true })
  if (fields.allow_any_authenticated_user) any.push({ authenticated_user: true })
  for (const u of fields.allowed_users ?? []) any.push({ user: { is: u } }, { email: { is: u } })
  for (const d of fields.allowed_domains ?? []) any.push({ domain: { is: d } })
  for (const g of fields.allowed_groups ?? []) any.push({ groups: { has: g } })
  for (const [claim, values] of Object.entries(fields.allowed_idp_claims ?? {})) {
    for (const v of values) any.push({ [`claim/${claim}`]: { has: v } })
  }
  if (fields.cors_allow_preflight) any.push({ cors_preflight: true })
  if (any.length === 0) return []
  const parsed = parsePolicy({ allow: { or: any } }, label)
  // The fields were type-checked by the config schema, so this cannot fail on input.
  if ('issues' in parsed) throw new Error(`legacy route fields did not compile: ${parsed.issues[0].message}`)
  return parsed.rules
}
