// The cookie store against the session store contract, plus what only it does.

import t from 'tap'
import { CookieSessionStore } from '../../src/session/cookie-store.js'
import { applySetCookies, sampleSession, sessionStoreContract } from './store.contract.js'

const SECRET = Buffer.alloc(32, 9).toString('base64')
const settings = (lifetimeSeconds = 3600, cookieName = '_gatehouse') => ({
  cookieName,
  secrets: [SECRET],
  ephemeral: false,
  domain: undefined,
  sameSite: 'lax' as const,
  lifetimeSeconds,
  store: { kind: 'cookie' as const },
})

sessionStoreContract(t, 'cookie store', async () => {
  // One-second sessions, so expiry can be waited for.
  const store = new CookieSessionStore(settings(1))
  return { store, expireAll: () => new Promise((resolve) => setTimeout(resolve, 2100)) }
})

t.test('the cookie store answers synchronously: the request path awaits nothing', async (t) => {
  const store = new CookieSessionStore(settings())
  const written = store.set(sampleSession(), {}, { httpLoopback: true })
  t.ok(Array.isArray(written))
  const found = store.get(applySetCookies(written))
  t.equal(typeof found, 'object')
  t.notOk(found instanceof Promise)
})

t.test('secure and loopback cookies; a prefixed name keeps Secure on loopback too', async (t) => {
  const plain = new CookieSessionStore(settings())
  t.match(plain.set(sampleSession(), {}, { httpLoopback: false })[0], /; Secure/)
  t.notMatch(plain.set(sampleSession(), {}, { httpLoopback: true })[0], /; Secure/)
  const prefixed = new CookieSessionStore(settings(3600, '__Host-gh'))
  const written = prefixed.set(sampleSession(), {}, { httpLoopback: true })
  t.match(written[0], /^__Host-gh=.*; Path=\/; HttpOnly; Secure/)
  t.equal(typeof prefixed.get(applySetCookies(written)), 'object', 'and is read back')
})
