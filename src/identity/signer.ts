// The signed statement of who the user is, sent to upstreams as a JWT (ES256), and the
// public key set upstreams verify it with. Signing uses node:crypto synchronously: the
// request path never waits on WebCrypto's promises, and a cache means each session
// signs once per audience every few minutes, not once per request.

import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { runSigningKey } from '../config/run-secrets.js'
import { GatehouseError } from '../errors.js'
import type { IdentityClaims } from './claims.js'

/** Pomerium's choice too: short enough that a leaked assertion soon expires. */
export const ASSERTION_TTL_SECONDS = 300
/** Re-sign when less than this is left, so an upstream never receives a nearly dead token. */
const REFRESH_MARGIN_SECONDS = 60
const CACHE_LIMIT = 10_000

export interface PublicJwk {
  readonly kty: string
  readonly crv: string
  readonly x: string
  readonly y: string
  readonly kid: string
  readonly alg: 'ES256'
  readonly use: 'sig'
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url')

let processKey: IdentitySigner | undefined

export class IdentitySigner {
  readonly jwk: PublicJwk
  private readonly header: string
  private readonly cache = new Map<string, { token: string; exp: number; identity: IdentityClaims }>()

  private constructor(private readonly key: KeyObject) {
    const pub = createPublicKey(key).export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y: string }
    // RFC 7638 thumbprint: stable for a key, different for the next one after rotation.
    const kid = b64url(
      createHash('sha256')
        .update(JSON.stringify({ crv: pub.crv, kty: pub.kty, x: pub.x, y: pub.y }))
        .digest(),
    )
    this.jwk = Object.freeze({ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' })
    this.header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }))
  }

  /** From a PKCS#8 or SEC1 PEM file holding an EC P-256 private key. */
  static fromFile(file: string): IdentitySigner {
    let pem: string
    try {
      pem = readFileSync(file, 'utf8')
    } catch (err) {
      throw new GatehouseError('GH_ERR_SIGNING_KEY', `cannot read the signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
    }
    let key: KeyObject
    try {
      key = createPrivateKey(pem)
    } catch (err) {
      // The cause may quote the PEM; the message names only the file.
      throw new GatehouseError('GH_ERR_SIGNING_KEY', `${file} does not hold a PEM private key`, { cause: err })
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new GatehouseError('GH_ERR_SIGNING_KEY', `${file} must hold an EC P-256 key for ES256 (gatehouse keys makes one)`)
    }
    return new IdentitySigner(key)
  }

  /** A key for this run only, the same across reloads and workers: assertions stop
   *  verifying after a restart, which `serve` warns about. */
  static ephemeral(): IdentitySigner {
    processKey ??= new IdentitySigner(runSigningKey())
    return processKey
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: [this.jwk] }
  }

  /** The assertion for one session and one route host (iss and aud). */
  assertion(identity: IdentityClaims, audience: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
    const cacheKey = `${identity.sid}\n${audience}`
    const cached = this.cache.get(cacheKey)
    // A refreshed session is a new object with possibly new groups: it is signed afresh.
    if (cached && cached.identity === identity && cached.exp - nowSeconds > REFRESH_MARGIN_SECONDS) return cached.token
    const exp = nowSeconds + ASSERTION_TTL_SECONDS
    const payload = b64url(
      JSON.stringify({
        iss: audience,
        aud: audience,
        sub: identity.sub,
        user: identity.user,
        email: identity.email,
        groups: identity.groups,
        name: identity.name,
        sid: identity.sid,
        iat: nowSeconds,
        exp,
        jti: randomUUID(),
      }),
    )
    const signingInput = `${this.header}.${payload}`
    // JWS wants the raw r||s signature, not DER.
    const signature = sign('sha256', Buffer.from(signingInput), { key: this.key, dsaEncoding: 'ieee-p1363' })
    const token = `${signingInput}.${b64url(signature)}`
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(cacheKey, { token, exp, identity })
    return token
  }
}
