// A signed-in user for the bench: a session cookie sealed with the bench's fixed secret,
// as the callback would have written it, so the load exercises session, policy and
// identity on every request without an IdP in the loop.

import { SessionCookie } from '../src/session/cookie.js'
import type { SessionData } from '../src/session/store.js'

export const BENCH_SECRET = Buffer.alloc(32, 7).toString('base64')

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
