// The Redis store against the session store contract, with a real redis-server, plus what
// only it does: tickets in cookies, fleet-wide revocation, the short read cache, the lock
// across instances, and failing closed while Redis is away.

import t, { type Test } from 'tap'
import { Revocations } from '../../src/session/revocations.js'
import { READ_CACHE_MS, RedisSessionStore } from '../../src/session/redis-store.js'
import type { SessionSettings } from '../../src/config/compile-auth.js'
import { isPromise, type SessionLookup } from '../../src/session/store.js'
import { redis } from '../helpers/redis.js'
import { applySetCookies, sampleSession, sessionStoreContract } from './store.contract.js'

const SECRET = Buffer.alloc(32, 5).toString('base64')
const settingsFor = (url: string, lifetimeSeconds = 3600): SessionSettings => ({
  cookieName: '_gatehouse',
  secrets: [SECRET],
  ephemeral: false,
  domain: undefined,
  sameSite: 'lax',
  lifetimeSeconds,
  store: { kind: 'redis', url, password: undefined },
})

function storeOn(t: Test, url: string, lifetimeSeconds?: number, revocations = new Revocations()): RedisSessionStore {
  const settings = settingsFor(url, lifetimeSeconds)
  const store = new RedisSessionStore(settings, revocations, settings.store as Extract<SessionSettings['store'], { kind: 'redis' }>)
  t.teardown(() => store.close())
  return store
}

async function ready(store: RedisSessionStore): Promise<void> {
  for (let i = 0; i < 200 && store.problem() !== undefined; i++) await new Promise((r) => setTimeout(r, 10))
}

const settle = async (v: SessionLookup | Promise<SessionLookup>) => (isPromise(v) ? await v : v)

sessionStoreContract(t, 'redis store', async (t) => {
  const server = await redis(t)
  const store = storeOn(t, server.url, 1)
  await ready(store)
  return { store, expireAll: () => new Promise((resolve) => setTimeout(resolve, 2100)) }
})

t.test('the cookie holds only a ticket; the session lives in Redis, sealed', async (t) => {
  const server = await redis(t)
  const store = storeOn(t, server.url)
  await ready(store)
  const data = sampleSession('s-ticket', { idToken: 'secret-id-token' })
  const written = await store.set(data, {}, { httpLoopback: true })
  t.ok(written[0].length < 300, 'a small cookie, whatever the session holds')
  t.notMatch(written.join(), /secret-id-token|ann@example/, 'nothing of the session in the cookie')
  const found = await settle(store.get(applySetCookies(written)))
  t.equal(typeof found === 'object' ? found.data.idToken : found, 'secret-id-token')
})

t.test('two instances share sessions; a sign-out on one is seen by the other at once', async (t) => {
  const server = await redis(t)
  const revocationsB = new Revocations()
  const a = storeOn(t, server.url)
  const b = storeOn(t, server.url, undefined, revocationsB)
  await ready(a)
  await ready(b)
  const jar = applySetCookies(await a.set(sampleSession('shared'), {}, { httpLoopback: true }))
  const onB = await settle(b.get(jar))
  t.equal(typeof onB === 'object' ? onB.data.sid : onB, 'shared', 'any instance serves any session')
  let closed = false
  revocationsB.watch(sampleSession('shared'), () => (closed = true))
  await a.delete(jar, { httpLoopback: true })
  for (let i = 0; i < 50 && !closed; i++) await new Promise((r) => setTimeout(r, 10))
  t.ok(closed, 'B heard of the sign-out (its websockets would close)')
  t.equal(await settle(b.get(jar)), 'invalid', 'and refuses the cookie, though B had it cached')
})

t.test('a refresh on one instance is what the other serves next', async (t) => {
  const server = await redis(t)
  const a = storeOn(t, server.url)
  const b = storeOn(t, server.url)
  await ready(a)
  await ready(b)
  const expiresAt = Math.floor(Date.now() / 1000) + 600
  const jar = applySetCookies(await a.set(sampleSession('r'), {}, { httpLoopback: true, expiresAt }))
  await settle(b.get(jar))
  await a.set(sampleSession('r', { groups: ['renewed'] }), jar, { httpLoopback: true, expiresAt })
  await new Promise((r) => setTimeout(r, 50))
  const seen = await settle(b.get(jar))
  t.strictSame(typeof seen === 'object' ? seen.data.groups : seen, ['renewed'])
})

t.test('the lock excludes other instances until released', async (t) => {
  const server = await redis(t)
  const a = storeOn(t, server.url)
  const b = storeOn(t, server.url)
  await ready(a)
  await ready(b)
  const held = await a.lock('x')
  let bGotIt = false
  const waiting = b.lock('x').then((lock) => {
    bGotIt = true
    return lock
  })
  await new Promise((r) => setTimeout(r, 200))
  t.equal(bGotIt, false, 'B waits while A holds it')
  held.release()
  const lock = await waiting
  t.equal(bGotIt, true, 'and gets it once A releases')
  lock.release()
})

t.test('revocation by subject and by IdP session id', async (t) => {
  const server = await redis(t)
  const store = storeOn(t, server.url)
  await ready(store)
  const one = applySetCookies(await store.set(sampleSession('one', { sub: 'u1', idpSid: 'op-1' }), {}, { httpLoopback: true }))
  const two = applySetCookies(await store.set(sampleSession('two', { sub: 'u1', idpSid: 'op-2' }), {}, { httpLoopback: true }))
  const other = applySetCookies(await store.set(sampleSession('three', { sub: 'u2' }), {}, { httpLoopback: true }))
  await store.revokeMatching({ idp: 'test', idpSid: 'op-1' })
  t.equal(await settle(store.get(one)), 'invalid')
  t.equal(typeof (await settle(store.get(two))), 'object', 'the same user elsewhere keeps that session')
  await store.revokeMatching({ idp: 'test', sub: 'u1' })
  t.equal(await settle(store.get(two)), 'invalid')
  t.equal(typeof (await settle(store.get(other))), 'object', 'other users are untouched')
})

t.test('while Redis is away: sessions fail closed, nothing queues, and it recovers by itself', async (t) => {
  const server = await redis(t)
  const store = storeOn(t, server.url)
  await ready(store)
  const jar = applySetCookies(await store.set(sampleSession('outage'), {}, { httpLoopback: true }))
  await server.stop()
  await new Promise((r) => setTimeout(r, READ_CACHE_MS + 100))
  t.match(store.problem(), /Redis is/, 'readiness says so')
  const started = Date.now()
  await t.rejects(settle(store.get(jar)), { code: 'GH_ERR_SESSION_STORE_UNAVAILABLE' }, 'a read fails, coded')
  await t.rejects(store.set(sampleSession('new'), {}, { httpLoopback: true }), { code: 'GH_ERR_SESSION_STORE_UNAVAILABLE' })
  t.ok(Date.now() - started < 3000, 'and fails fast')
  t.equal(await settle(store.get({})), 'none', 'no cookie needs no Redis')
  await server.start()
  await ready(store)
  t.equal(store.problem(), undefined, 'ready again')
  const fresh = applySetCookies(await store.set(sampleSession('after'), {}, { httpLoopback: true }))
  t.equal(typeof (await settle(store.get(fresh))), 'object', 'and serving')
})

t.test('a password-protected Redis: the password from store_password_file is used', async (t) => {
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const path = await import('node:path')
  const { loadConfig } = await import('../../src/config/load.js')
  const server = await redis(t, { password: 's3cret-pass' })
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-redis-pass-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'redis-password'), 's3cret-pass\n')
  writeFileSync(path.join(dir, 'config.yaml'), `session:\n  secrets: ["${SECRET}"]\n  store: ${server.url}\n  store_password_file: redis-password\n`)
  const config = await loadConfig(path.join(dir, 'config.yaml'))
  const store = new RedisSessionStore(config.session, new Revocations(), config.session.store as Extract<SessionSettings['store'], { kind: 'redis' }>)
  t.teardown(() => store.close())
  await ready(store)
  t.equal(store.problem(), undefined, 'connected with the password')
  const jar = applySetCookies(await store.set(sampleSession('pw'), {}, { httpLoopback: true }))
  t.equal(typeof (await settle(store.get(jar))), 'object')
  const wrong = storeOn(t, server.url)
  await new Promise((r) => setTimeout(r, 300))
  t.not(wrong.problem(), undefined, 'without it, not ready')
})
