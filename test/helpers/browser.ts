// What the sign-in tests do as a browser would: keep cookies, wait for Gatehouse to be
// ready, and sign in through an IdP (the real test IdP or the fake one):
//
//   await waitReady(gh.port, 'app.test')
//   const { jar, callback } = await signIn(gh.port, { host: 'app.test', login: (url) => provider.login(url, 'alice') })
//   await request(gh.port, { path: '/', headers: { host: 'app.test', cookie: jar.header() } })

import { request, type Reply } from './client.js'

/** The Set-Cookie lines of a reply, as a list. */
export function setCookies(reply: Reply): string[] {
  const set = reply.headers['set-cookie'] ?? []
  return Array.isArray(set) ? set : [set]
}

/** A browser's cookies for one site, by name. */
export class CookieJar extends Map<string, string> {
  /** Takes the cookies a reply sets; the ones it clears (Max-Age=0 or empty) are removed. */
  absorb(reply: Reply): this {
    for (const line of setCookies(reply)) {
      const [pair] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      if (/Max-Age=0/i.test(line) || value === '') this.delete(name)
      else this.set(name, value)
    }
    return this
  }

  /** The cookies as a Cookie header value. */
  header(): string {
    return [...this].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

/** Waits until /readyz answers 200 for `host` (discovery runs in the background); throws
 *  after `ms`. */
export async function waitReady(port: number, host: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const res = await request(port, { path: '/readyz', headers: { host } })
    if (res.status === 200) return
    if (Date.now() > until) throw new Error(`not ready after ${ms} ms: ${res.text}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export interface SignInOptions {
  /** The Host the browser talks to. */
  host: string
  /** Where the sign-in starts (a path and query on `host`). */
  path?: string
  /** Signs the user in at the IdP: given the authorization URL, returns where the IdP
   *  sent the browser back to. */
  login: (authorizationUrl: string) => Promise<string | URL>
  /** The browser's cookies so far; the one it ends with is returned. */
  jar?: CookieJar
  accept?: string
}

export interface SignedIn {
  /** The browser's cookies afterwards: the session once the callback succeeded. */
  jar: CookieJar
  /** Where the sign-in sent the browser (the IdP's authorization URL). */
  authorize: URL
  /** Where the IdP sent the browser back to. */
  back: URL
  /** Gatehouse's answer to the callback. */
  callback: Reply
}

/** One GET as the browser: its cookies sent (when it has any), the reply's kept. */
export async function browse(port: number, jar: CookieJar, host: string, path: string, accept = 'text/html'): Promise<Reply> {
  const headers: Record<string, string> = { host, accept }
  if (jar.size > 0) headers.cookie = jar.header()
  const reply = await request(port, { path, headers })
  jar.absorb(reply)
  return reply
}

/** A browser-like sign-in on `port`: starts the sign-in, logs in at the IdP with `login`,
 *  delivers the answer to the callback with the browser's cookies and keeps what it sets. */
export async function signIn(port: number, options: SignInOptions): Promise<SignedIn> {
  const { host, path = '/.gatehouse/sign_in?rd=/', login, jar = new CookieJar(), accept = 'text/html' } = options
  const start = await browse(port, jar, host, path, accept)
  if (start.status !== 302) throw new Error(`sign-in answered ${start.status}: ${start.text.slice(0, 400)}`)
  const authorize = new URL(start.headers.location as string)
  const back = new URL(await login(authorize.href), `http://${host}`)
  if (back.host !== host) throw new Error(`the IdP sent the browser to ${back.href}, off ${host}`)
  const callback = await browse(port, jar, host, back.pathname + back.search, accept)
  return { jar, authorize, back, callback }
}

/** A browser's cookies, kept per host as browsers keep host-only cookies. */
export class Browser {
  private readonly jars = new Map<string, CookieJar>()
  jar(host: string): CookieJar {
    let jar = this.jars.get(host)
    if (!jar) this.jars.set(host, (jar = new CookieJar()))
    return jar
  }
}

/** Follows redirects from `start` as a browser would, across the hosts Gatehouse serves on
 *  `port` and the IdP at `idpOrigin` (where `login` signs in), until an answer that is not
 *  a redirect: where it ended, and every URL on the way. */
export async function followSignIn(
  port: number,
  login: (authorizationUrl: string) => Promise<string | URL>,
  browser: Browser,
  start: string,
  idpOrigin: string,
): Promise<{ final: URL; hops: URL[] }> {
  const hops: URL[] = []
  let url = new URL(start)
  for (let i = 0; i < 12; i++) {
    hops.push(url)
    if (url.origin === idpOrigin) {
      url = new URL(await login(url.href))
      continue
    }
    const res = await browse(port, browser.jar(url.host), url.host, url.pathname + url.search)
    if (res.status !== 302) return { final: url, hops }
    url = new URL(String(res.headers.location), url)
  }
  throw new Error(`too many redirects: ${hops.map((h) => h.href).join(' -> ')}`)
}
