// A signed-in user for the bench: a session sealed with the bench's fixed secret, as the
// callback would have written it (in the cookie, or in Redis with a ticket in the
// cookie), so the load exercises session, policy and identity on every request without
// an IdP in the loop.

import type { SessionSettings } from '../src/config/compile-auth.js'
import { SessionCookie } from '../src/session/cookie.js'
import { RedisSessionStore } from '../src/session/redis-store.js'
import { Revocations } from '../src/session/revocations.js'
import type { SessionData } from '../src/session/store.js'

const BENCH_SECRET = Buffer.alloc(32, 7).toString('base64')
const COOKIE_NAME = '_gatehouse'
const LIFETIME_SECONDS = 3600

/** The session and IdP blocks of a bench config.yaml: the bench's secret, the session
 *  store (a redis:// URL; default the cookie), and an IdP with explicit endpoints, so
 *  nothing is discovered (and nobody ever signs in there). */
export function benchSignInYaml(store?: string): string {
  return `session:
  secrets: [${JSON.stringify(BENCH_SECRET)}]
${store ? `  store: ${JSON.stringify(store)}\n` : ''}idps:
  - id: bench
    issuer: http://127.0.0.1:9/
    authorization_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
    jwks_url: http://127.0.0.1:9/jwks
    client_id: bench
    client_secret: bench
`
}

export const BENCH_SIGN_IN_YAML = benchSignInYaml()

/** The bench user. Its groups include `staff0`, which the 20-rule policy of
 *  bench/policy.ts (benchPolicy(0)) lets in at its 18th rule, after every deny rule and
 *  most allow rules have been evaluated; `staff` for the soak's policy. */
export const BENCH_SESSION: SessionData = {
  sid: 'bench-session',
  idp: 'bench',
  sub: 'user-1',
  user: 'ann',
  email: 'ann@example.com',
  name: 'Ann Example',
  groups: ['staff', 'engineering', 'staff0'],
  claims: { sub: 'user-1', email: 'ann@example.com', groups: ['staff', 'engineering', 'staff0'], amr: ['pwd'], department: 'sales' },
}

/** The Cookie header of a browser holding the bench session in the cookie store. */
export function benchSessionCookie(data: SessionData = BENCH_SESSION): string {
  const cookie = new SessionCookie<SessionData>({ name: COOKIE_NAME, secrets: [BENCH_SECRET], lifetimeSeconds: LIFETIME_SECONDS, httpLoopback: true })
  return cookie
    .write(data, [])
    .map((c) => c.split(';', 1)[0])
    .join('; ')
}

/** Writes the bench session into Redis at `url` (as Gatehouse's Redis store does on
 *  sign-in) and returns the Cookie header with its ticket. */
export async function benchRedisSessionCookie(url: string, data: SessionData = BENCH_SESSION): Promise<string> {
  const redis = { kind: 'redis', url, password: undefined } as const
  const settings: SessionSettings = {
    cookieName: COOKIE_NAME,
    secrets: [BENCH_SECRET],
    ephemeral: false,
    domain: undefined,
    sameSite: 'lax',
    lifetimeSeconds: LIFETIME_SECONDS,
    store: redis,
  }
  const store = new RedisSessionStore(settings, new Revocations(), redis)
  try {
    for (let i = 0; store.problem() !== undefined; i++) {
      if (i > 100) throw new Error(`Redis at ${url}: ${store.problem()}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    const setCookies = await store.set(data, {}, { httpLoopback: true })
    return setCookies.map((c) => c.split(';', 1)[0]).join('; ')
  } finally {
    await store.close()
  }
}
