// How much one client may hold at once. A client that opens many requests and reads
// none of the answers keeps an upstream connection, a pool slot and buffers per request:
// a bound per client address keeps one client from starving every user of an upstream.

import type { EventEmitter } from 'node:events'
import type { Forward } from './outcome.js'

/** Counts what each client address has in flight. */
export class ClientLimit {
  private readonly inFlight = new Map<string, number>()

  /** Takes a slot for `client`; false when it already holds `limit` (0: no bound). */
  take(client: string, limit: number): boolean {
    if (limit <= 0) return true
    const held = this.inFlight.get(client) ?? 0
    if (held >= limit) return false
    this.inFlight.set(client, held + 1)
    return true
  }

  release(client: string, limit: number): void {
    if (limit <= 0) return
    const held = this.inFlight.get(client) ?? 0
    if (held <= 1) this.inFlight.delete(client)
    else this.inFlight.set(client, held - 1)
  }
}

/** Holds a slot for a forward's client until `holder` (the response, the socket)
 *  closes; false, holding nothing, when the client is at its bound. */
export function holdSlot(limit: ClientLimit, outcome: Forward, holder: EventEmitter): boolean {
  const max = outcome.runtime.config.limits.maxRequestsPerClient
  if (!limit.take(outcome.client, max)) return false
  if (max > 0) holder.once('close', () => limit.release(outcome.client, max))
  return true
}
