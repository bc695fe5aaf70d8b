// The contract every SessionStore keeps, as one suite run against each store (the cookie
// store today; a server-side store runs the same suite). A store is driven through its
// interface only, with the cookies a browser would send back.

import type { Test } from 'tap'
import { isPromise, type SessionData, type SessionLookup, type SessionStore } from '../../src/session/store.js'

export interface StoreUnderTest {
  store: SessionStore
  /** Makes stored sessions older than their lifetime (a clock moved forward, or a TTL). */
  expireAll(): Promise<void>
}

type Jar = Record<string, string>

/** The cookies a browser holds after applying `setCookies` to `jar`. */
export function applySetCookies(setCookies: readonly string[], jar: Jar = {}): Jar {
  const out = { ...jar }
  for (const line of setCookies) {
    const pair = line.slice(0, line.indexOf(';') === -1 ? line.length : line.indexOf(';'))
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq)
    if (/;\s*Max-Age=0(;|$)/i.test(line)) delete out[name]
    else out[name] = pair.slice(eq + 1)
  }
  return out
}

const SAVE = { httpLoopback: true }

export const sampleSession = (sid = 'sid-1', extra: Partial<SessionData> = {}): SessionData => ({
  sid,
  idp: 'test',
  sub: `sub-${sid}`,
  user: 'ann',
  email: 'ann@example.com',
  name: 'Ann Example',
  groups: ['staff', 'Zoë Łopez, Team'],
  claims: { sub: `sub-${sid}`, amr: ['mfa'] },
  refreshToken: 'r-1',
  ...extra,
})

const settle = async <T>(value: T | Promise<T>): Promise<T> => (isPromise(value) ? await value : value)
const lookup = (store: SessionStore, jar: Jar): Promise<SessionLookup> => settle(store.get(jar))

export function sessionStoreContract(t: Test, name: string, make: (t: Test) => Promise<StoreUnderTest>): void {
  t.test(`${name}: a session set is got back, with its user prepared for policies`, async (t) => {
    const { store } = await make(t)
    const data = sampleSession()
    const jar = applySetCookies(await settle(store.set(data, {}, SAVE)))
    const found = await lookup(store, jar)
    t.not(typeof found, 'string', 'a session')
    if (typeof found === 'string') return
    t.strictSame(found.data, data)
    t.equal(found.user.id, data.sub)
    t.ok(found.exp > Date.now() / 1000, 'with an end in the future')
  })

  t.test(`${name}: no cookie is no session; a foreign or damaged one is invalid`, async (t) => {
    const { store } = await make(t)
    t.equal(await lookup(store, {}), 'none')
    t.equal(await lookup(store, { other: 'x' }), 'none')
    const jar = applySetCookies(await settle(store.set(sampleSession(), {}, SAVE)))
    const [cookieName, value] = Object.entries(jar)[0]
    const damaged = value.slice(0, -4) + (value.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    t.equal(await lookup(store, { [cookieName]: damaged }), 'invalid', 'altered')
    t.equal(await lookup(store, { [cookieName]: 'garbage' }), 'invalid', 'garbage')
  })

  t.test(`${name}: delete ends the session and clears its cookies`, async (t) => {
    const { store } = await make(t)
    const jar = applySetCookies(await settle(store.set(sampleSession(), {}, SAVE)))
    const cleared = await settle(store.delete(jar, SAVE))
    t.ok(cleared.length > 0 && cleared.every((c) => /Max-Age=0/.test(c)), 'every Set-Cookie clears')
    t.strictSame(applySetCookies(cleared, jar), {}, 'the browser keeps nothing')
    t.equal(await lookup(store, jar), 'invalid', 'a copy of the cookie taken before opens nothing')
    const blind = await settle(store.delete({}, SAVE))
    t.ok(blind.length > 0, 'clearing without a cookie still clears')
  })

  t.test(`${name}: a session past its end is not a session`, async (t) => {
    const under = await make(t)
    const jar = applySetCookies(await settle(under.store.set(sampleSession(), {}, SAVE)))
    await under.expireAll()
    t.not(typeof (await lookup(under.store, jar)) === 'object', true, 'not returned')
  })

  t.test(`${name}: a save that keeps an earlier end keeps it (a refresh)`, async (t) => {
    const { store } = await make(t)
    const expiresAt = Math.floor(Date.now() / 1000) + 600
    const jar = applySetCookies(await settle(store.set(sampleSession(), {}, { ...SAVE, expiresAt })))
    const found = await lookup(store, jar)
    t.equal(typeof found === 'object' ? found.exp : undefined, expiresAt)
  })

  t.test(`${name}: after a refresh, the older cookie of the same session reads the refreshed one`, async (t) => {
    const { store } = await make(t)
    const expiresAt = Math.floor(Date.now() / 1000) + 600
    const old = applySetCookies(await settle(store.set(sampleSession('s-2'), {}, { ...SAVE, expiresAt })))
    await settle(store.set(sampleSession('s-2', { groups: ['renewed'] }), old, { ...SAVE, expiresAt }))
    const found = await lookup(store, old)
    t.strictSame(typeof found === 'object' ? found.data.groups : undefined, ['renewed'], 'a waiter uses the refreshed result')
  })

  t.test(`${name}: sessions are kept apart`, async (t) => {
    const { store } = await make(t)
    const a = applySetCookies(await settle(store.set(sampleSession('a'), {}, SAVE)))
    const b = applySetCookies(await settle(store.set(sampleSession('b'), {}, SAVE)))
    const [fa, fb] = [await lookup(store, a), await lookup(store, b)]
    t.equal(typeof fa === 'object' ? fa.data.sid : fa, 'a')
    t.equal(typeof fb === 'object' ? fb.data.sid : fb, 'b')
  })

  t.test(`${name}: revoking a user or an IdP session ends exactly those sessions`, async (t) => {
    const { store } = await make(t)
    const now = Math.floor(Date.now() / 1000)
    const save = async (sid: string, sub: string, idpSid: string) =>
      applySetCookies(await settle(store.set(sampleSession(sid, { sub, idpSid, signedInAt: now - 10 }), {}, SAVE)))
    const one = await save('r1', 'ann', 'op-1')
    const two = await save('r2', 'ann', 'op-2')
    const other = await save('r3', 'bob', 'op-3')
    await store.revokeMatching({ idp: 'test', idpSid: 'op-1' })
    t.equal(await lookup(store, one), 'invalid', 'the IdP session that ended')
    t.equal(typeof (await lookup(store, two)), 'object', "the user's other session stays")
    await store.revokeMatching({ idp: 'test', sub: 'ann' })
    t.equal(await lookup(store, two), 'invalid', 'every session of the user')
    t.equal(typeof (await lookup(store, other)), 'object', 'other users stay signed in')
  })

  t.test(`${name}: the lock admits one holder per session at a time`, async (t) => {
    const { store } = await make(t)
    const order: string[] = []
    const first = await store.lock('s')
    const second = store.lock('s').then((lock) => {
      order.push('second')
      lock.release()
    })
    const other = await store.lock('another session')
    order.push('other')
    other.release()
    await new Promise((r) => setTimeout(r, 20))
    order.push('first releases')
    first.release()
    await second
    t.strictSame(order, ['other', 'first releases', 'second'], 'the second holder waits; other sessions do not')
    first.release()
    const again = await store.lock('s')
    again.release()
    t.pass('releasing twice is harmless, and the lock is free again')
  })

  t.test(`${name}: a key is claimed once within its time to live`, async (t) => {
    const { store } = await make(t)
    t.equal(await store.claimOnce('jti-1', 60), true)
    t.equal(await store.claimOnce('jti-1', 60), false, 'a replay')
    t.equal(await store.claimOnce('jti-2', 60), true, 'another key')
  })

  t.test(`${name}: a stashed value is read once, by its code`, async (t) => {
    const { store } = await make(t)
    const code = await store.stash('sealed handoff', 60)
    t.ok(code.length >= 43, 'an unguessable code')
    t.equal(await store.unstash(code), 'sealed handoff')
    t.equal(await store.unstash(code), undefined, 'spent')
    t.equal(await store.unstash('made-up'), undefined)
  })

  t.test(`${name}: is ready, and closes`, async (t) => {
    const { store } = await make(t)
    t.equal(store.problem(), undefined)
    await store.close()
  })
}
