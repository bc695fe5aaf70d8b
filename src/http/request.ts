// What a request says about its client and its origin. Both depend on who may speak for
// the client (trusted_proxies), so both take that check rather than trusting headers.

import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import proxyaddr from 'proxy-addr'
import { parseHost } from '../routes/host.js'

export type TrustCheck = (address: string) => boolean

/** The client's address: the peer, unless the peer is a trusted proxy, in which case
 *  the nearest address in X-Forwarded-For that is not itself trusted. */
export function clientAddress(req: IncomingMessage, isTrustedProxy: TrustCheck): string {
  const peer = req.socket.remoteAddress ?? ''
  const address = isTrustedProxy(peer) ? proxyaddr(req, (a) => isTrustedProxy(a)) : peer
  // Node reports IPv4 clients of a dual-stack listener as ::ffff:a.b.c.d; policies
  // name them as IPv4.
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/** The scheme the client used: ours, or from a trusted proxy the one it says, but only
 *  http or https (anything else could steer redirects built from it). */
export function requestScheme(req: IncomingMessage, isTrustedProxy: TrustCheck): 'http' | 'https' {
  const forwarded = req.headers['x-forwarded-proto']
  if ((forwarded === 'https' || forwarded === 'http') && isTrustedProxy(req.socket.remoteAddress ?? '')) return forwarded
  return (req.socket as TLSSocket).encrypted ? 'https' : 'http'
}

/** The origin the browser used: its scheme and the Host header, or undefined when the
 *  Host is not a valid host[:port]. */
export function requestOrigin(req: IncomingMessage, isTrustedProxy: TrustCheck): string | undefined {
  const host = req.headers.host
  if (!parseHost(host)) return undefined
  return `${requestScheme(req, isTrustedProxy)}://${host!.toLowerCase()}`
}
