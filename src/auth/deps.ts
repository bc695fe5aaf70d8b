// What the sign-in, sign-out and user-page handlers need from the app.

import type { Config } from '../config/compile.js'
import type { Metrics } from '../ops/metrics.js'
import type { SessionStore } from '../session/store.js'
import type { ProviderRegistry } from './registry.js'

export interface AuthDeps {
  /** The current config and its session store, taken once per request. */
  runtime(): { readonly config: Config; readonly sessions: SessionStore }
  readonly providers: ProviderRegistry
  readonly metrics?: Metrics
}
