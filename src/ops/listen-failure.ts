// A listener that could not start, said so that the operator can act on it.

import { GatehouseError } from '../errors.js'

/** A listener that could not start, said as the operator can act on it: which
 *  listener, which address, why, and what to change. */
export function listenFailure(what: string, setting: string, address: { host: string; port: number }, err: unknown): GatehouseError {
  const code = (err as NodeJS.ErrnoException)?.code
  const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`
  const why =
    code === 'EADDRINUSE'
      ? `another process already listens there; stop it or change ${setting}`
      : code === 'EACCES'
        ? `this user may not listen there (ports below 1024 need privileges); change ${setting}`
        : code === 'EADDRNOTAVAIL'
          ? `this machine has no such address; change ${setting}`
          : `${(err as Error)?.message ?? 'it failed'}; check ${setting}`
  return new GatehouseError('GH_ERR_LISTEN', `${what} cannot listen on ${where}: ${why}`, { cause: err })
}
