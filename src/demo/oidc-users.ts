// Users and claims for the embedded OpenID providers (the dev IdP of `npm start` and the
// IdP the tests sign in through): who the users are, which scope releases which claim,
// and the account lookup oidc-provider calls. Shared by src/demo/oidc-provider.ts and
// test/helpers/idp.ts.

import type { Account, AccountClaims, FindAccount } from 'oidc-provider'

export interface OidcUser {
  /** The subject (`sub`); also what a login form submits. */
  id: string
  email?: string
  /** Defaults to true when `email` is set. */
  email_verified?: boolean
  name?: string
  preferred_username?: string
  groups?: string[]
  /** Any other claims, e.g. an Auth0-style namespaced `https://example.com/roles` or a
   *  Cloudentity-style nested object. A claim that some scope maps (see
   *  DEFAULT_SCOPE_CLAIMS and the `scopes` option) is released with that scope; one that
   *  no scope maps is released always (with `openid`), as an Auth0 Action's custom claim is. */
  claims?: Record<string, unknown>
}

/** The Auth0-style namespaced roles claim, released by the `roles` scope. */
export const NAMESPACED_ROLES_CLAIM = 'https://example.com/roles'

/** Which claims each scope releases (what `claims` means in oidc-provider's configuration). */
export const DEFAULT_SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username', 'given_name', 'family_name', 'nickname', 'picture', 'updated_at', 'locale', 'zoneinfo'],
  groups: ['groups'],
  roles: [NAMESPACED_ROLES_CLAIM],
})

/** The scope-to-claims table for oidc-provider: the defaults, each scope in `scopes`
 *  replacing (or adding) its entry, and every extra user claim that no scope maps added
 *  to `openid`. Claims that users gain later are only released if mapped here. */
export function scopeClaims(users: readonly OidcUser[], scopes: Record<string, readonly string[]> = {}): Record<string, string[]> {
  const table: Record<string, string[]> = {}
  for (const [scope, claims] of Object.entries({ ...DEFAULT_SCOPE_CLAIMS, ...scopes })) table[scope] = [...claims]
  const mapped = new Set(Object.values(table).flat())
  const unmapped = new Set<string>()
  for (const user of users) {
    for (const claim of Object.keys(user.claims ?? {})) if (!mapped.has(claim)) unmapped.add(claim)
  }
  table.openid = [...new Set([...(table.openid ?? []), 'sub', ...unmapped])]
  return table
}

/** Every claim a user has; oidc-provider keeps only those the granted scopes release. */
export function userClaims(user: OidcUser): AccountClaims {
  const claims: AccountClaims = { ...user.claims, sub: user.id }
  if (user.email !== undefined) {
    claims.email = user.email
    claims.email_verified = user.email_verified ?? true
  }
  if (user.name !== undefined) claims.name = user.name
  if (user.preferred_username !== undefined) claims.preferred_username = user.preferred_username
  if (user.groups !== undefined) claims.groups = [...user.groups]
  return claims
}

/** oidc-provider's `findAccount` over a live list: a test may change a user's groups
 *  (or remove the user) and the next token, refresh or userinfo answer follows. */
export function findAccountIn(users: readonly OidcUser[]): FindAccount {
  return (_ctx, sub): Account | undefined => {
    if (!users.some((u) => u.id === sub)) return undefined
    return {
      accountId: sub,
      claims: () => {
        const user = users.find((u) => u.id === sub)
        return user ? userClaims(user) : { sub }
      },
    }
  }
}

/** One line describing a user, for login pages. */
export function describeUser(user: OidcUser): string {
  const who = [user.name, user.email].filter(Boolean).join(', ')
  const groups = user.groups?.length ? `groups: ${user.groups.join(', ')}` : 'no groups'
  return who ? `${who}; ${groups}` : groups
}
