// Reading the Cookie header, and knowing which cookies are Gatehouse's own.

/** What a request's parsed Cookie header looks like. */
export type CookieMap = Readonly<Record<string, string | undefined>>

/** Parses a Cookie header; the first of several same-named cookies wins, as in browsers' order. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (!header) return out
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    const name = part.slice(0, eq).trim()
    if (name && !(name in out)) out[name] = part.slice(eq + 1).trim()
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
