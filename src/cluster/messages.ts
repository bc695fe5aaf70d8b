// What the primary and its workers say to each other over the cluster's IPC channel. Every
// message carries `gh`, so messages of libraries sharing the channel are told apart.

import type { SignInAttempt, SignInRefusal } from '../auth/sign-in-limits.js'
import type { RunSecrets } from '../config/run-secrets.js'
import type { RevocationMatch } from '../session/revocations.js'
import type { SessionData } from '../session/store.js'

export type SessionNewsMessage = { revoked: [RevocationMatch, number] } | { refreshed: [SessionData, number] }

/** What a worker asks the primary, and what the answer holds. */
export interface Calls {
  stash: { args: [value: string, ttlSeconds: number]; value: string }
  unstash: { args: [code: string]; value: string | undefined }
  claimOnce: { args: [key: string, ttlSeconds: number]; value: boolean }
  /** The answer is the id of the lock held, for `release`. */
  lock: { args: [key: string]; value: number }
  signInAttempt: { args: [attempt: SignInAttempt]; value: SignInRefusal | undefined }
}
export type CallName = keyof Calls

export type ToPrimary =
  | { gh: 'setup?' }
  | { gh: 'listening' }
  | { gh: 'failed'; code: string | undefined; message: string }
  | { [K in CallName]: { gh: 'call'; id: number; op: K; args: Calls[K]['args'] } }[CallName]
  | { gh: 'release'; lock: number }
  | { gh: 'signInSucceeded'; attempt: SignInAttempt }
  | { gh: 'news'; news: SessionNewsMessage }
  | { gh: 'metrics'; id: number; metrics: unknown[] }

export type ToWorker =
  | { gh: 'setup'; secrets: RunSecrets }
  | { gh: 'reload' }
  | { gh: 'stop' }
  | { gh: 'answer'; id: number; value: unknown }
  | { gh: 'news'; news: SessionNewsMessage }
  | { gh: 'metrics?'; id: number }

export function isOurs<T extends { gh: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { gh?: unknown }).gh === 'string'
}
