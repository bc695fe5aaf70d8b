// Who started a request: our own pages, or another site. Actions taken for the user
// (signing out, signing in with a password) must come from our own origin, or a link,
// image or form elsewhere could take them in the user's name.

import type { FastifyRequest } from 'fastify'

/** A request another site started: Sec-Fetch-Site says so, or (older browsers) the
 *  Referer names another origin. */
export function isCrossSite(request: FastifyRequest, origin: string): boolean {
  if (request.headers['sec-fetch-site'] === 'cross-site') return true
  const referer = request.headers.referer
  if (referer === undefined) return false
  try {
    return new URL(referer).origin !== origin
  } catch {
    return true
  }
}

/** A POST from our own pages: browsers send Origin with every POST (and Sec-Fetch-Site);
 *  a client that sends neither is not a browser another site could drive. */
export function isSameOrigin(request: FastifyRequest, origin: string): boolean {
  const from = request.headers.origin
  if (from !== undefined) return from === origin
  const site = request.headers['sec-fetch-site']
  return site === undefined || site === 'same-origin'
}

/** One query parameter as a string; repeated or absent gives undefined. */
export const queryParam = (request: FastifyRequest, name: string): string | undefined => {
  const value = (request.query as Record<string, unknown>)[name]
  return typeof value === 'string' ? value : undefined
}
