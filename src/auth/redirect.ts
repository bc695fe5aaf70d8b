// Where a user may be sent after signing in or out: a relative path on the same host,
// or a configured route's origin. Anything else could turn Gatehouse into an open
// redirect that lends its trusted name to a phishing link.

import { CALLBACK_PATH, OWN_PREFIX } from '../http/endpoints.js'
import { normalizeTarget } from '../routes/normalize.js'
import type { Route } from '../routes/route.js'

/** Control characters and backslashes: browsers strip or reinterpret them (`/\evil`,
 *  `%09`), so a target that holds any is refused rather than cleaned. */
const UNSAFE = /[\u0000-\u001f\u007f\\]/

/** Whether `url`'s scheme and host are those of a configured route. */
export function isRouteOrigin(url: URL, routes: readonly Route[]): boolean {
  const host = url.host.toLowerCase()
  for (const route of routes) {
    if (`${route.origin.scheme}:` !== url.protocol) continue
    const key = route.hostKey
    if (key.startsWith('*.')) {
      const suffix = key.slice(1)
      if (host.endsWith(suffix) && host.length > suffix.length) return true
    } else if (host === key) return true
  }
  return false
}

/** Gatehouse's own endpoints are never a destination: a link that signs a user in and
 *  then lands on sign_out (or on the callback, or sign-in again) would act for them. */
function isOwnEndpoint(url: URL): boolean {
  // Judged on the path as Gatehouse will read it once the browser asks for it: the URL
  // parser leaves `%2e` alone, which normalisation turns into a dot.
  const normalized = normalizeTarget(url.pathname)
  if (!normalized.ok) return true
  const path = normalized.path
  return path.startsWith(OWN_PREFIX) || path === CALLBACK_PATH || path.startsWith(`${CALLBACK_PATH}/`)
}

/** The safe absolute URL for `rd`, or undefined when it must not be followed. */
export function safeRedirect(rd: string | undefined, requestOrigin: string, routes: readonly Route[]): string | undefined {
  const url = followable(rd, requestOrigin, routes)
  return url === undefined || isOwnEndpoint(url) ? undefined : url.href
}

function followable(rd: string | undefined, requestOrigin: string, routes: readonly Route[]): URL | undefined {
  if (rd === undefined || rd === '' || rd.length > 2048 || UNSAFE.test(rd)) return undefined
  // A relative target must be a plain path: `//evil.com` is protocol-relative.
  if (rd.startsWith('/') && !rd.startsWith('//')) return new URL(rd, requestOrigin)
  let url: URL
  try {
    url = new URL(rd)
  } catch {
    return undefined
  }
  if (url.username || url.password) return undefined
  if (url.origin === requestOrigin) return url
  return isRouteOrigin(url, routes) ? url : undefined
}
