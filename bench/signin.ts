// The test IdP every signed-in contender that does its own OpenID Connect (Apache with
// mod_auth_openidc, Express with express-openid-connect) signs in against, and a browser
// stand-in that signs in through a relying party once and keeps the cookies it was given:
// the bench then loads with those cookies.

import { request } from 'undici'
import type { TestIdp } from '../test/helpers/idp.js'

export const BENCH_IDP_USER = 'alice'

/** The test IdP on 127.0.0.1 (a real oidc-provider with PKCE required), with no client
 *  yet: each relying party registers its own once its port is known. Tokens live an
 *  hour, longer than any bench run, so no contender refreshes during the load. */
export async function startBenchIdp(): Promise<TestIdp> {
  // Loaded only when a contender needs it. oidc-provider warns once that Node 20 is not
  // its preferred runtime (it runs and is tested there): that line is dropped.
  const warn = console.warn
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return
    warn.apply(console, args)
  }
  try {
    const { startIdp } = await import('../test/helpers/idp.js')
    return await startIdp({ clients: [], accessTokenTtl: 3600, idTokenTtl: 3600 })
  } finally {
    console.warn = warn
  }
}

/** Follows a relying party's sign-in for `BENCH_IDP_USER`: the protected URL redirects
 *  to the IdP, the IdP's login form is submitted, and the callback on the relying party
 *  sets its session. Returns the Cookie header a browser would then send, once the
 *  protected URL answers 200 with it. */
export async function signInThrough(idp: TestIdp, protectedUrl: string): Promise<string> {
  const origin = new URL(protectedUrl).origin
  const jar = new Map<string, string>()
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
  const get = async (url: string) => {
    // A top-level navigation, as a browser sends it. (Not fetch: it says Sec-Fetch-Mode:
    // cors, and mod_auth_openidc answers such requests 401 rather than a redirect.)
    const headers = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', ...(jar.size ? { cookie: cookieHeader() } : {}) }
    const res = await request(url, { headers })
    for (const line of [res.headers['set-cookie'] ?? []].flat()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const expired = attrs.some((a) => {
        const [k, v = ''] = a.split('=')
        const key = k.trim().toLowerCase()
        return (key === 'max-age' && Number(v) <= 0) || (key === 'expires' && Date.parse(v.trim()) <= Date.now())
      })
      if (expired || value === '') jar.delete(name)
      else jar.set(name, value)
    }
    await res.body.dump()
    const location = res.headers.location
    return { status: res.statusCode, location: typeof location === 'string' ? location : undefined }
  }
  let url = protectedUrl
  let res = await get(url)
  for (let step = 0; step < 10; step++) {
    if (res.status === 200) return cookieHeader()
    const location = res.location
    if (res.status < 300 || res.status >= 400 || !location) throw new Error(`sign-in through ${origin}: ${url} answered ${res.status}`)
    const next = new URL(location, url)
    if (next.origin === origin) {
      url = next.href
    } else if (next.href.startsWith(idp.issuer)) {
      // At the IdP: sign in there; it sends the browser back to the relying party's callback.
      url = await idp.browser().login(next.href, BENCH_IDP_USER)
      if (new URL(url).origin !== origin) throw new Error(`sign-in through ${origin}: the IdP sent the browser to ${url}`)
    } else {
      throw new Error(`sign-in through ${origin}: redirected to ${next.href}`)
    }
    res = await get(url)
  }
  throw new Error(`sign-in through ${origin}: too many redirects`)
}
