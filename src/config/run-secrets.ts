// The cookie secret and signing key made for this run when the config names none. They
// stay the same across reloads, and with `workers` across the processes of one run: the
// primary makes them and hands them to each worker before it loads the config, so a
// session sealed by one worker opens on every other and the JWKS is the same on all.

import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'

let sessionSecret: string | undefined
let signingKey: KeyObject | undefined

export function runSessionSecret(): string {
  return (sessionSecret ??= randomBytes(32).toString('base64'))
}

export function runSigningKey(): KeyObject {
  return (signingKey ??= generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)
}

/** What a worker needs to share its primary's run secrets (sent over IPC, never logged). */
export interface RunSecrets {
  readonly sessionSecret: string
  readonly signingKeyPem: string
}

export function exportRunSecrets(): RunSecrets {
  return { sessionSecret: runSessionSecret(), signingKeyPem: String(runSigningKey().export({ type: 'pkcs8', format: 'pem' })) }
}

/** Takes the primary's secrets; must run before the first config is loaded. */
export function adoptRunSecrets(secrets: RunSecrets): void {
  sessionSecret = secrets.sessionSecret
  signingKey = createPrivateKey(secrets.signingKeyPem)
}
