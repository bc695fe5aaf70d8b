// The identity providers of the running config, kept across reloads while their
// settings stay the same (so a reload does not repeat discovery).

import type { FastifyBaseLogger } from 'fastify'
import { CALLBACK_PATH } from '../http/endpoints.js'
import { IdentityProvider, type IdpSettings } from './providers.js'

const settingsKey = (s: IdpSettings) => JSON.stringify({ ...s, groupMappings: [...s.groupMappings] })

export class ProviderRegistry {
  private providers = new Map<string, { key: string; provider: IdentityProvider }>()

  constructor(private readonly log: FastifyBaseLogger) {}

  sync(idps: readonly IdpSettings[]): void {
    const next = new Map<string, { key: string; provider: IdentityProvider }>()
    for (const settings of idps) {
      const key = settingsKey(settings)
      const existing = this.providers.get(settings.id)
      if (existing && existing.key === key) {
        next.set(settings.id, existing)
        continue
      }
      const provider = new IdentityProvider(settings, this.log)
      void provider.start()
      next.set(settings.id, { key, provider })
    }
    for (const [id, { provider }] of this.providers) if (next.get(id)?.provider !== provider) provider.close()
    this.providers = next
  }

  get(id: string): IdentityProvider | undefined {
    return this.providers.get(id)?.provider
  }

  /**
   * Where `provider`'s authorization responses come back. One IdP, or an IdP that sends
   * RFC 9207's `iss` with its responses: /oauth2/callback (the `iss` check tells IdPs
   * apart). Among several, an IdP without `iss` gets /oauth2/callback/<id>: a response
   * is then only ever redeemed at the IdP whose callback it reached, which is the
   * defence against IdP mix-up (RFC 9700 4.4). `redirect_path` overrides both.
   */
  redirectPath(provider: IdentityProvider): string {
    if (provider.settings.redirectPath !== undefined) return provider.settings.redirectPath
    if (this.providers.size <= 1 || provider.sendsIssuer) return CALLBACK_PATH
    return `${CALLBACK_PATH}/${provider.settings.id}`
  }

  list(): IdentityProvider[] {
    return [...this.providers.values()].map((p) => p.provider)
  }

  /** For /readyz: the first provider that is not usable yet, and why. */
  problem(): string | undefined {
    for (const { provider } of this.providers.values()) {
      const problem = provider.problem
      if (problem) return `${provider.settings.id}: ${problem}`
    }
    return undefined
  }

  close(): void {
    for (const { provider } of this.providers.values()) provider.close()
    this.providers.clear()
  }
}
