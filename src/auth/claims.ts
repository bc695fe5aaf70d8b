// From an IdP's claims to Gatehouse's user: which claim names the user, which holds the
// email and which the groups (Auth0 roles in a namespaced claim, Keycloak groups,
// Cloudentity nested paths), with operator-chosen renames.

import { findClaim } from '../policy/index.js'
import type { IdpSettings } from './providers.js'

export interface MappedUser {
  readonly sub: string
  readonly user: string
  readonly email: string | undefined
  readonly name: string | undefined
  readonly groups: string[]
}

const MAX_GROUPS = 500

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined
}

/** An IdP that says `email_verified: false` (or the string "false", as some send it)
 *  vouches for the address only as typed by whoever registered: with self-registration,
 *  anyone can claim anyone's address. Absent means the IdP makes no such distinction. */
function emailUnverified(claims: Readonly<Record<string, unknown>>): boolean {
  return claims.email_verified === false || claims.email_verified === 'false'
}

export function mapClaims(
  settings: Pick<IdpSettings, 'groupsClaim' | 'groupMappings' | 'usernameClaim' | 'emailClaim' | 'requireVerifiedEmail'>,
  claims: Readonly<Record<string, unknown>>,
): MappedUser {
  const sub = String(claims.sub)
  // An unverified email is left out of the user altogether: it never satisfies email or
  // domain criteria (or allowed_users/allowed_domains), never names the user, and is
  // never sent upstream as an identity.
  const email = settings.requireVerifiedEmail && emailUnverified(claims) ? undefined : text(findClaim(claims, settings.emailClaim))
  const rawGroups = findClaim(claims, settings.groupsClaim)
  const list = Array.isArray(rawGroups) ? rawGroups : rawGroups === undefined || rawGroups === null ? [] : [rawGroups]
  const groups: string[] = []
  // Bounded: a runaway claim must not make every request carry megabytes.
  for (const item of list.slice(0, MAX_GROUPS)) {
    const name = text(item)
    if (name !== undefined) groups.push(settings.groupMappings.get(name) ?? name)
  }
  return {
    sub,
    user: text(findClaim(claims, settings.usernameClaim)) ?? email ?? sub,
    email,
    name: text(claims.name),
    groups,
  }
}
