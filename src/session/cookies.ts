// Reading the Cookie header, and knowing which cookies are Gatehouse's own.

/** What a request's parsed Cookie header looks like. */
export type CookieMap = Readonly<Record<string, string | undefined>>

/** What a cookie reads as when the request carries it twice with different values: not
 *  a value any cookie can hold (it has a space), so it opens as nothing. */
export const CONFLICTING = 'conflicting values'

/**
 * Parses a Cookie header. Two cookies of one name with different values mean one was
 * set by someone else: a sibling subdomain can set a cookie for the parent domain
 * (cookie tossing), and browsers send both. Neither is trusted: the name reads as
 * CONFLICTING, so a session cookie tossed next to ours means no session, never the
 * attacker's session.
 */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (!header) return out
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    const name = part.slice(0, eq).trim()
    // A cookie named __proto__ would reach the object's prototype; it is never ours.
    if (!name || name === '__proto__') continue
    const value = part.slice(eq + 1).trim()
    if (!Object.hasOwn(out, name)) out[name] = value
    else if (out[name] !== value) out[name] = CONFLICTING
  }
  return out
}

/** Gatehouse's cookies are the session cookie (by its configured name), its chunks
 *  (`name_1`...) and sign-in transactions (`name_tx_...`): all `name` or `name_*`. */
export function isOwnCookie(cookie: string, sessionCookieName: string): boolean {
  return (
    cookie === sessionCookieName ||
    (cookie.length > sessionCookieName.length && cookie.startsWith(sessionCookieName) && cookie[sessionCookieName.length] === '_')
  )
}
