// What an operator is told once a run has started: the configuration's warnings and the
// secrets made for this run only. Said once per run, by whichever process leads it.

import type { BaseLogger } from 'pino'
import type { Config } from '../config/compile.js'
import { formatIssue } from '../errors.js'

/** The demo words these for people trying it rather than for operators. */
export interface EphemeralWarnings {
  readonly sessionSecrets?: string
  readonly signingKey?: string
}

export function logStartWarnings(log: Pick<BaseLogger, 'warn'>, config: Config, worded: EphemeralWarnings = {}): void {
  for (const warning of config.warnings) log.warn({ warning: formatIssue(warning) }, 'configuration warning')
  if (config.session.ephemeral) {
    log.warn(
      worded.sessionSecrets ??
        "session.secrets is not set: sessions are encrypted with a secret made for this run only, so every user is signed out at restart, and replicas cannot read each other's sessions (gatehouse keys makes a lasting one)",
    )
  }
  if (config.identity.ephemeral) {
    log.warn(
      worded.signingKey ??
        'identity.signing_key_file is not set: identity assertions are signed with a key made for this run only; upstreams must refetch the JWKS after every restart (gatehouse keys makes a lasting one)',
    )
  }
}
