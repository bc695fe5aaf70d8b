// The demo's parts (an IdP that signs anyone in without a password, an upstream that
// echoes what it receives) must never run in production, whatever the config says.

import { GatehouseError } from '../errors.js'

/** Throws GH_ERR_DEMO_IN_PRODUCTION under NODE_ENV=production; `why` says what the part does. */
export function refuseInProduction(why: string): void {
  if (process.env.NODE_ENV === 'production') throw new GatehouseError('GH_ERR_DEMO_IN_PRODUCTION', `${why} and refuses to run with NODE_ENV=production`)
}
