// The session store survives reloads that leave the session settings alone.

import t from 'tap'
import { SessionStores } from '../../src/session/stores.js'

const settings = (cookieName = '_gatehouse') => ({
  cookieName,
  secrets: [Buffer.alloc(32, 3).toString('base64')],
  ephemeral: false,
  domain: undefined,
  sameSite: 'lax' as const,
  lifetimeSeconds: 3600,
  store: { kind: 'cookie' as const },
})

t.test('the same settings keep the same store; new settings get a new one', async (t) => {
  const stores = new SessionStores()
  t.teardown(() => stores.close())
  const first = stores.forSettings(settings())
  t.equal(stores.forSettings(settings()), first, 'a reload with the same settings keeps caches and locks')
  const renamed = stores.forSettings(settings('other'))
  t.not(renamed, first, 'changed settings make a new store')
  const written = renamed.set({ sid: 's', idp: 'i', sub: 'u', user: 'u', groups: [], claims: {} }, {}, { httpLoopback: true })
  t.match(String(written), /^other=/, 'with the new settings')
})
