// The small sealed cookies beside the session (a sign-in in progress, the signed-out
// marker): one chunk, SameSite=Lax so they come back from the IdP's redirect, sealed with
// the session secrets, and without Secure on plain-http loopback unless the name's
// prefix demands it.

import type { Config } from '../config/compile.js'
import { isHttpLoopback } from '../http/loopback.js'
import { cookiePrefix } from '../session/chunks.js'
import { SessionCookie } from '../session/cookie.js'

export function helperCookie<P extends object>(config: Config, name: string, lifetimeSeconds: number, origin: string, domain?: string): SessionCookie<P> {
  return new SessionCookie<P>({
    name,
    secrets: config.session.secrets,
    lifetimeSeconds,
    sameSite: 'lax',
    domain,
    httpLoopback: isHttpLoopback(origin) && !cookiePrefix(name),
    // One cookie (about 4 KB) at most: what these hold is bounded, so it always fits.
    maxChunks: 1,
  })
}
