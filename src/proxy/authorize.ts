// What a request says about its client and origin, and the policy engine's plain input
// built from it.

import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import proxyaddr from 'proxy-addr'
import type { Config } from '../config/compile.js'
import type { PolicyInput, PreparedUser } from '../policy/index.js'
import { parseHost } from '../routes/host.js'

/** The client's address: the peer, unless the peer is a trusted proxy, in which case
 *  the nearest address in X-Forwarded-For that is not itself trusted. */
export function clientAddress(req: IncomingMessage, config: Config): string {
  const peer = req.socket.remoteAddress ?? ''
  const address = config.isTrustedProxy(peer) ? proxyaddr(req, (a) => config.isTrustedProxy(a)) : peer
  // Node reports IPv4 clients of a dual-stack listener as ::ffff:a.b.c.d; policies
  // name them as IPv4.
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

export function policyInput(req: IncomingMessage, config: Config, hostname: string, path: string, user: PreparedUser | undefined, method = req.method ?? 'GET'): PolicyInput {
  const origin = req.headers.origin
  const requestMethod = req.headers['access-control-request-method']
  return {
    request: {
      method,
      path,
      host: hostname,
      sourceIp: clientAddress(req, config),
      time: Date.now(),
      origin,
      accessControlRequestMethod: typeof requestMethod === 'string' ? requestMethod : undefined,
    },
    user,
  }
}

/** The origin the browser used: our scheme (or, from a trusted proxy, the one it says)
 *  and the Host header, which routing has already required to be valid. */
export function requestOrigin(req: IncomingMessage, config: Config): string | undefined {
  const host = req.headers.host
  if (!parseHost(host)) return undefined
  let proto = (req.socket as TLSSocket).encrypted ? 'https' : 'http'
  const forwarded = req.headers['x-forwarded-proto']
  if ((forwarded === 'https' || forwarded === 'http') && config.isTrustedProxy(req.socket.remoteAddress ?? '')) proto = forwarded
  return `${proto}://${host!.toLowerCase()}`
}
