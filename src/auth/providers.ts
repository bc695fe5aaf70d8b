// OpenID Connect providers: discovery (or explicit endpoints) through openid-client,
// retried in the background, so Gatehouse starts and serves public routes while an IdP
// is unreachable; /readyz reports it until it answers.

import { createHmac, timingSafeEqual } from 'node:crypto'
import * as oidc from 'openid-client'
import type { FastifyBaseLogger } from 'fastify'
import { GatehouseError } from '../errors.js'
import { isLoopbackUrl } from '../http/loopback.js'
import { OidcFailure, translateOidcError } from './oidc-errors.js'

export interface IdpSettings {
  readonly id: string
  /** Shown on the sign-in page (Kasm's "Display Name"). */
  readonly name: string
  readonly logoUrl: string | undefined
  readonly issuer: string
  /** Explicit endpoints; each overrides what discovery says. With authorization, token
   *  and jwks all given, discovery is skipped (IdPs without a discovery document). */
  readonly endpoints: {
    readonly authorization?: string
    readonly token?: string
    readonly userinfo?: string
    readonly jwks?: string
    readonly endSession?: string
  }
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post' | 'none'
  readonly scopes: readonly string[]
  readonly pkce: boolean
  readonly usernameClaim: string
  readonly emailClaim: string
  readonly groupsClaim: string
  readonly groupMappings: ReadonlyMap<string, string>
  readonly userinfo: boolean
  readonly logout: boolean
  readonly autoLogin: boolean
  /** The one algorithm ID tokens must be signed with; undefined: whatever the IdP
   *  advertises among the asymmetric ones. HS256/384/512 (the client secret as the key)
   *  only when set. */
  readonly idTokenAlg: string | undefined
  /** Where this IdP's authorization responses come back, when the operator fixed it. */
  readonly redirectPath: string | undefined
  /** Leave out an email the IdP marks email_verified: false (default true). */
  readonly requireVerifiedEmail: boolean
}

const isHmac = (alg: string | undefined): alg is 'HS256' | 'HS384' | 'HS512' => alg === 'HS256' || alg === 'HS384' || alg === 'HS512'

/** At most one JWKS refetch for an unknown kid this often (see withKeyRefetch). */
const JWKS_REFETCH_SECONDS = 5

const FIRST_RETRY_MS = 1_000
const MAX_RETRY_MS = 30_000

/**
 * RFC 6749 2.3.1 form-urlencodes client_id and secret before Basic authentication. Done
 * as strictly as openid-client does it (`-`, `_`, `.` and `~` encoded too), some widely
 * deployed IdPs fail to match the credentials, because they never decode them. Apache's
 * mod_auth_openidc leaves those four as they are, and so does Gatehouse: only what
 * form-urlencoding must encode is encoded (and a space becomes `+`).
 */
export function basicCredential(text: string): string {
  return encodeURIComponent(text).replace(/[!'()]|%20/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
}

function clientSecretBasic(secret: string): oidc.ClientAuth {
  return (_server, client, _body, headers) => {
    headers.set('authorization', `Basic ${Buffer.from(`${basicCredential(client.client_id)}:${basicCredential(secret)}`).toString('base64')}`)
  }
}

function clientAuth(settings: IdpSettings): oidc.ClientAuth {
  switch (settings.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      return clientSecretBasic(settings.clientSecret ?? '')
    case 'client_secret_post':
      return oidc.ClientSecretPost(settings.clientSecret ?? '')
    case 'none':
      return oidc.None()
  }
}

function overrides(settings: IdpSettings): Partial<oidc.ServerMetadata> {
  const { endpoints: e } = settings
  return {
    ...(e.authorization ? { authorization_endpoint: e.authorization } : {}),
    ...(e.token ? { token_endpoint: e.token } : {}),
    ...(e.userinfo ? { userinfo_endpoint: e.userinfo } : {}),
    ...(e.jwks ? { jwks_uri: e.jwks } : {}),
    ...(e.endSession ? { end_session_endpoint: e.endSession } : {}),
  }
}

/** The innermost message along an error's cause chain (undici hides the network error
 *  there). */
function causeMessage(err: unknown): string | undefined {
  let message: string | undefined
  for (let e = (err as { cause?: unknown })?.cause, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const m = (e as Error).message
    if (typeof m === 'string' && m) message = m
  }
  return message
}

export class IdentityProvider {
  private configuration: oidc.Configuration | undefined
  private lastError: string | undefined = 'discovery has not finished yet'
  private retryTimer: NodeJS.Timeout | undefined
  private retryMs = FIRST_RETRY_MS
  private closed = false
  /** The IdP's key set as last fetched (withKeyRefetch), and when a kid it lacked last
   *  made Gatehouse fetch it again (seconds). */
  private keys: oidc.ExportedJWKSCache | undefined
  private lastRefetch = 0

  constructor(
    readonly settings: IdpSettings,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Starts discovery; failures are retried with backoff until close(). */
  start(): Promise<void> {
    return this.attempt()
  }

  /** The IdP says it puts `iss` in every authorization response (RFC 9207). */
  get sendsIssuer(): boolean {
    return this.configuration?.serverMetadata().authorization_response_iss_parameter_supported === true
  }

  get ready(): boolean {
    return this.configuration !== undefined
  }

  /** Why the IdP cannot be used yet, for /readyz and error pages. */
  get problem(): string | undefined {
    return this.configuration ? undefined : this.lastError
  }

  /** The openid-client configuration, or GH_ERR_IDP_UNAVAILABLE while there is none. */
  get config(): oidc.Configuration {
    if (!this.configuration) throw new GatehouseError('GH_ERR_IDP_UNAVAILABLE', `${this.settings.name} is not reachable yet: ${this.lastError}`)
    return this.configuration
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
  }

  private async attempt(): Promise<void> {
    try {
      this.configuration = await this.discover()
      this.lastError = undefined
      this.log.info({ idp: this.settings.id }, 'identity provider ready')
    } catch (err) {
      if (this.closed) return
      // The message may name the URL; it never holds the client secret.
      this.lastError = (err as Error).message
      // Which URL failed and why (refused, DNS, TLS, a bad discovery document): what an
      // operator needs to fix it. The cause chain names the network error.
      const failure = translateOidcError(err)
      this.log.warn(
        {
          idp: this.settings.id,
          url: this.settings.issuer,
          err: { message: this.lastError, reason: failure.reason, cause: causeMessage(err) },
          retry_ms: this.retryMs,
        },
        'identity provider not reachable; retrying',
      )
      this.retryTimer = setTimeout(() => void this.attempt(), this.retryMs)
      this.retryTimer.unref()
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS)
    }
  }

  private async discover(): Promise<oidc.Configuration> {
    const { settings } = this
    const explicit = settings.endpoints.authorization && settings.endpoints.token && settings.endpoints.jwks
    if (explicit) return this.configured({ issuer: settings.issuer, ...overrides(settings) })
    const discovered = await oidc.discovery(new URL(settings.issuer), settings.clientId, this.clientMetadata(), clientAuth(settings), {
      execute: isLoopbackUrl(settings.issuer) ? [oidc.allowInsecureRequests] : [],
      timeout: 10,
    })
    return this.configured({ ...discovered.serverMetadata(), ...overrides(settings) })
  }

  private clientMetadata(): Partial<oidc.ClientMetadata> {
    return this.settings.idTokenAlg ? { id_token_signed_response_alg: this.settings.idTokenAlg } : {}
  }

  /** A configuration for `server` with Gatehouse's settings applied. */
  private configured(server: oidc.ServerMetadata): oidc.Configuration {
    const { settings } = this
    const config = new oidc.Configuration(server, settings.clientId, this.clientMetadata(), clientAuth(settings))
    if (isLoopbackUrl(settings.issuer)) oidc.allowInsecureRequests(config)
    // openid-client trusts an ID token from the token endpoint on TLS alone unless asked;
    // Gatehouse always verifies its signature (and alg) against the IdP's keys, or, for
    // an HS algorithm the operator chose, with the client secret (checkIdToken).
    if (!isHmac(settings.idTokenAlg)) oidc.enableNonRepudiationChecks(config)
    return config
  }

  /**
   * Runs a token request (code exchange, refresh) so that an ID token signed with a key
   * the cached JWKS lacks (the IdP just rotated) makes one refetch of the JWKS, at most
   * one every JWKS_REFETCH_SECONDS. openid-client refetches for an unknown kid only once
   * its copy is a minute old, which would fail every sign-in for up to a minute after a
   * rotation. Each request runs on its own configuration, given the key set Gatehouse
   * keeps, dated back a minute when a refetch is allowed: an unknown kid then refetches,
   * a known one is used as cached. A newer key set it fetched is kept.
   */
  async withKeyRefetch<T>(use: (config: oidc.Configuration) => Promise<T>): Promise<T> {
    const main = this.config
    if (isHmac(this.settings.idTokenAlg)) return use(main)
    const config = this.configured(main.serverMetadata())
    const kept = this.keys
    const now = Math.floor(Date.now() / 1000)
    const mayRefetch = kept !== undefined && now - this.lastRefetch >= JWKS_REFETCH_SECONDS
    const given = kept && (mayRefetch ? { ...kept, uat: Math.min(kept.uat, now - 60) } : kept)
    if (given !== undefined) oidc.setJwksCache(config, given)
    try {
      return await use(config)
    } finally {
      // A fetch during the request dates the key set anew.
      const after = oidc.getJwksCache(config)
      if (after !== undefined && after.uat !== given?.uat) {
        this.keys = after
        if (mayRefetch) this.lastRefetch = now
      }
    }
  }

  /**
   * The signature check openid-client cannot make: an ID token signed with the client
   * secret (HS256/384/512, which OIDC Core allows) when the operator set that algorithm.
   * Asymmetric tokens were already verified against the IdP's keys. Throws OidcFailure.
   */
  checkIdToken(idToken: string | undefined): void {
    const alg = this.settings.idTokenAlg
    if (!isHmac(alg) || idToken === undefined) return
    const [header, payload, signature] = idToken.split('.')
    const declared = (() => {
      try {
        return (JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: unknown }).alg
      } catch {
        return undefined
      }
    })()
    const expected = createHmac(`sha${alg.slice(2)}`, this.settings.clientSecret ?? '')
      .update(`${header}.${payload}`)
      .digest()
    const given = Buffer.from(signature ?? '', 'base64url')
    if (declared !== alg || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new OidcFailure(
        'GH_ERR_SIGN_IN_FAILED',
        'ID_TOKEN_SIGNATURE',
        `the ID token's ${alg} signature does not verify with the client secret`,
        undefined,
        undefined,
      )
    }
  }
}
