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

export function mapClaims(settings: IdpSettings, claims: Readonly<Record<string, unknown>>): MappedUser {
  const sub = String(claims.sub)
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
    user: text(findClaim(claims, settings.usernameClaim)) ?? text(claims.email) ?? sub,
    email: text(findClaim(claims, settings.emailClaim)),
    name: text(claims.name),
    groups,
  }
}
