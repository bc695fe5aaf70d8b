// The sign-in side of the configuration: identity providers and session cookies.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { IdpSettings } from '../auth/providers.js'
import { isLoopbackUrl } from '../http/loopback.js'
import type { SameSite } from '../session/chunks.js'
import { DEFAULTS } from './defaults.js'
import { runSessionSecret } from './run-secrets.js'
import type { Located } from './schema.js'
import type { ConfigSpec, IdpSpec } from './spec.js'

/** Where sessions live: in the browser's cookie, or in Redis (the cookie holds a ticket). */
export type SessionStoreSettings = { readonly kind: 'cookie' } | { readonly kind: 'redis'; readonly url: string; readonly password: string | undefined }

export interface SessionSettings {
  readonly cookieName: string
  readonly secrets: readonly string[]
  /** True when no secrets were configured: sessions end when the process does. */
  readonly ephemeral: boolean
  readonly domain: string | undefined
  readonly sameSite: SameSite
  readonly lifetimeSeconds: number
  readonly store: SessionStoreSettings
}

export function compileSession(spec: ConfigSpec['session'], baseDir: string, issue: (key: string, message: string) => void): SessionSettings {
  const secrets = spec?.secrets
  let store: SessionStoreSettings = { kind: 'cookie' }
  if (spec?.store !== undefined && spec.store !== 'cookie') {
    let password: string | undefined
    if (spec.store_password_file !== undefined) {
      try {
        password = readFileSync(path.resolve(baseDir, spec.store_password_file), 'utf8').trim()
      } catch (err) {
        issue('session.store_password_file', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
      }
    }
    store = { kind: 'redis', url: spec.store, password }
  } else if (spec?.store_password_file !== undefined) {
    issue('session.store_password_file', 'is for a Redis store; session.store is cookie')
  }
  return Object.freeze({
    cookieName: spec?.cookie_name ?? DEFAULTS.session.cookieName,
    // One secret per run, kept across reloads, when none is configured.
    secrets: Object.freeze(secrets ?? [runSessionSecret()]),
    ephemeral: secrets === undefined,
    domain: spec?.domain,
    sameSite: (spec?.same_site ?? DEFAULTS.session.sameSite) as SameSite,
    lifetimeSeconds: spec?.lifetime === undefined ? DEFAULTS.session.lifetimeSeconds : Math.floor(spec.lifetime / 1000),
    store,
  })
}

type Issue = (at: Located<unknown>['at'], key: string, message: string) => void

export function compileIdps(specs: readonly Located<IdpSpec>[], baseDir: string, issue: Issue): IdpSettings[] {
  const out: IdpSettings[] = []
  const ids = new Set<string>()
  for (const { value: s, at } of specs) {
    const problem = (key: string, message: string) => issue(at, key, message)
    const id = s.id!
    if (ids.has(id)) {
      problem('id', `another identity provider already has the id ${JSON.stringify(id)}`)
      continue
    }
    ids.add(id)
    if (!s.issuer) {
      problem('issuer', 'is required: ID tokens are checked against it (explicit endpoints may replace discovery, not the issuer)')
      continue
    }
    if (/[?#]/.test(s.issuer)) {
      problem('issuer', 'must not contain a query or fragment (OpenID Connect issuers cannot)')
      continue
    }
    // Tokens and codes travel to these URLs; plain http is only acceptable on this machine.
    const urls = {
      issuer: s.issuer,
      authorization_url: s.authorization_url,
      token_url: s.token_url,
      userinfo_url: s.userinfo_url,
      jwks_url: s.jwks_url,
      end_session_url: s.end_session_url,
    }
    const insecure = Object.entries(urls).find(([, u]) => u !== undefined && u.startsWith('http:') && !isLoopbackUrl(u))
    if (insecure) {
      problem(insecure[0], `${insecure[1]} must use https (http is accepted only on loopback)`)
      continue
    }
    const explicit = s.authorization_url && s.token_url && s.jwks_url
    if (explicit && s.userinfo && !s.userinfo_url) {
      problem('userinfo_url', 'is required with userinfo: true when explicit endpoints replace discovery')
      continue
    }
    let secret = s.client_secret
    if (s.client_secret_file !== undefined) {
      try {
        secret = readFileSync(path.resolve(baseDir, s.client_secret_file), 'utf8').trim()
      } catch (err) {
        problem('client_secret_file', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
        continue
      }
      if (secret === '') {
        problem('client_secret_file', 'is empty')
        continue
      }
    }
    const method = (s.token_endpoint_auth_method ?? DEFAULTS.idp.tokenEndpointAuthMethod) as IdpSettings['tokenEndpointAuthMethod']
    if (s.id_token_signed_response_alg?.startsWith('HS') && !secret) {
      problem(
        'id_token_signed_response_alg',
        `${s.id_token_signed_response_alg} ID tokens are signed with the client secret, so client_secret (or client_secret_file) is required`,
      )
      continue
    }
    if (method !== 'none' && !secret) {
      problem('client_secret', `is required with ${method} (or set token_endpoint_auth_method: none for a public client)`)
      continue
    }
    out.push(
      Object.freeze({
        id,
        name: s.name ?? id,
        logoUrl: s.logo_url,
        issuer: s.issuer,
        endpoints: Object.freeze({
          authorization: s.authorization_url,
          token: s.token_url,
          userinfo: s.userinfo_url,
          jwks: s.jwks_url,
          endSession: s.end_session_url,
        }),
        clientId: s.client_id!,
        clientSecret: secret,
        tokenEndpointAuthMethod: method,
        scopes: s.scopes ?? DEFAULTS.idp.scopes,
        pkce: s.pkce === undefined ? DEFAULTS.idp.pkce : s.pkce !== 'none',
        usernameClaim: s.username_claim ?? DEFAULTS.idp.usernameClaim,
        emailClaim: s.email_claim ?? DEFAULTS.idp.emailClaim,
        groupsClaim: s.groups_claim ?? DEFAULTS.idp.groupsClaim,
        groupMappings: new Map(Object.entries(s.group_mappings ?? {})),
        userinfo: s.userinfo ?? DEFAULTS.idp.userinfo,
        logout: s.logout ?? DEFAULTS.idp.logout,
        autoLogin: s.auto_login ?? DEFAULTS.idp.autoLogin,
        requireVerifiedEmail: s.require_verified_email ?? DEFAULTS.idp.requireVerifiedEmail,
        redirectPath: s.redirect_path,
        idTokenAlg: s.id_token_signed_response_alg,
      }),
    )
  }
  const autoLogin = out.filter((idp) => idp.autoLogin)
  if (autoLogin.length > 1) {
    const second = specs.find((s) => s.value.id === autoLogin[1].id)!
    issue(second.at, 'auto_login', `only one identity provider may have auto_login (${autoLogin[0].id} has it already)`)
  }
  return out
}
