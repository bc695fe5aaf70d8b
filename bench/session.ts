// A signed-in user for the bench: a session cookie sealed with the bench's fixed secret,
// as the callback would have written it, so the load exercises session, policy and
// identity on every request without an IdP in the loop.

import { SessionCookie } from '../src/session/cookie.js'
import type { SessionData } from '../src/session/store.js'

const BENCH_SECRET = Buffer.alloc(32, 7).toString('base64')

/** The session and IdP blocks of a bench config.yaml: the bench's secret, and an IdP
 *  with explicit endpoints, so nothing is discovered (and nobody ever signs in there). */
export const BENCH_SIGN_IN_YAML = `session:
  secrets: [${JSON.stringify(BENCH_SECRET)}]
idps:
  - id: bench
    issuer: http://127.0.0.1:9/
    authorization_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
    jwks_url: http://127.0.0.1:9/jwks
    client_id: bench
    client_secret: bench
`

export function benchSessionCookie(): string {
  const cookie = new SessionCookie<SessionData>({ name: '_gatehouse', secrets: [BENCH_SECRET], lifetimeSeconds: 3600, httpLoopback: true })
  const data: SessionData = {
    sid: 'bench-session',
    idp: 'bench',
    sub: 'user-1',
    user: 'ann',
    email: 'ann@example.com',
    name: 'Ann Example',
    groups: ['staff', 'engineering'],
    claims: { sub: 'user-1', email: 'ann@example.com', groups: ['staff', 'engineering'] },
  }
  return cookie
    .write(data, [])
    .map((c) => c.split(';', 1)[0])
    .join('; ')
}
