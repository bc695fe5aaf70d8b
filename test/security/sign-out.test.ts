// Sign-out ends the session everywhere it is used: a copy of the cookie taken before is
// refused over every transport, and open websockets close. An expiring session closes
// its websockets too.

import t, { type Test } from 'tap'
import type WebSocket from 'ws'
import { request } from '../helpers/client.js'
import { upstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'
import { idpYaml, newSecret, provider, session, signedInGatehouse } from './signin.js'

const HOST = 'app.test'

async function setup(t: Test, lifetime?: string) {
  const p = await provider(t, [HOST])
  const app = await upstream(t, { websockets: true })
  const gh = await signedInGatehouse(
    t,
    `trusted_proxies: [127.0.0.1]
${idpYaml(p, newSecret(), lifetime ? `  lifetime: ${lifetime}\n` : '')}routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_websockets: true
    allow_any_authenticated_user: true
`,
    HOST,
  )
  return { p, gh }
}

/** An open tunnel, or a rejection naming the status the handshake got instead. */
async function openTunnel(port: number, cookie: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const h = await websocketHandshake(port, { host: HOST, cookie })
  if (h.status !== 101) throw new Error(`handshake answered ${h.status}`)
  return { ws: h.ws!, closed: h.closed! }
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then((value) => ({ value })), new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))])

t.test('after sign-out, a copy of the cookie opens nothing, and open websockets close', async (t) => {
  const { p, gh } = await setup(t)
  const jar = await session(gh, p, HOST, 'alice')
  const copy = jar.header()
  t.equal((await request(gh.port, { path: '/', headers: { host: HOST, cookie: copy } })).status, 200, 'signed in')
  const tunnel = await openTunnel(gh.port, copy)
  const echoed = new Promise<string>((r) => tunnel.ws.once('message', (d) => r(String(d))))
  tunnel.ws.send('hi')
  t.equal(await echoed, 'echo:hi', 'the tunnel works')

  const out = await request(gh.port, { path: '/.gatehouse/sign_out', headers: { host: HOST, cookie: copy } })
  t.equal(out.status, 302)
  t.ok(await within(tunnel.closed, 2000), 'the open websocket closed with the sign-out')

  const replayed = await request(gh.port, { path: '/', headers: { host: HOST, cookie: copy, accept: 'application/json' } })
  t.equal(replayed.status, 401, 'HTTP: the copied cookie is no session')
  t.match(String(replayed.headers['set-cookie']), /_gatehouse=; .*Max-Age=0/, 'and is cleared')
  await t.rejects(openTunnel(gh.port, copy), /handshake answered 401/, 'websocket: refused')
  const fa = await request(gh.port, { path: '/.gatehouse/auth', headers: { host: 'auth.internal', 'x-original-url': `http://${HOST}/`, cookie: copy } })
  t.equal(fa.status, 401, 'forward-auth: refused')
  const who = JSON.parse((await request(gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie: copy } })).text)
  t.equal(who.signed_in, false)

  const again = await session(gh, p, HOST, 'alice')
  t.equal((await request(gh.port, { path: '/', headers: { host: HOST, cookie: again.header() } })).status, 200, 'signing in again works')
})

t.test('a websocket closes when its session expires', async (t) => {
  const { p, gh } = await setup(t, '2s')
  const jar = await session(gh, p, HOST, 'bob')
  const tunnel = await openTunnel(gh.port, jar.header())
  t.notOk(await within(tunnel.closed, 500), 'open while the session lives')
  t.ok(await within(tunnel.closed, 3000), 'closed once it has expired')
})
