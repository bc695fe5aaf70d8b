// Cookie tossing (a sibling subdomain setting our cookie name for the parent domain) and
// the bound on unfinished sign-ins.

import t, { type Test } from 'tap'
import { browse, CookieJar, signIn } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { upstream } from '../helpers/upstream.js'
import { parseCookies, CONFLICTING } from '../../src/session/cookies.js'
import { idpYaml, newSecret, provider, session, signedInGatehouse } from './signin.js'

const HOST = 'app.test'

async function setup(t: Test) {
  const p = await provider(t, [HOST])
  const app = await upstream(t)
  const gh = await signedInGatehouse(
    t,
    `${idpYaml(p, newSecret())}routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
    HOST,
  )
  return { p, gh, app }
}

t.test('the same cookie name twice with different values reads as neither', async (t) => {
  t.equal(parseCookies('a=1; a=2').a, CONFLICTING)
  t.equal(parseCookies('a=1; a=1').a, '1', 'the same value twice is fine')
  t.equal(parseCookies('__proto__=x; constructor=y').constructor, 'y', 'cookie names never reach the prototype')
})

t.test("a session cookie tossed next to the user's means no session, never the attacker's", async (t) => {
  const { p, gh } = await setup(t)
  const victim = (await session(gh, p, HOST, 'alice')).header()
  const attacker = (await session(gh, p, HOST, 'bob')).get('_gatehouse')!
  t.equal((await request(gh.port, { path: '/', headers: { host: HOST, cookie: victim } })).status, 200)
  for (const cookie of [`${victim}; _gatehouse=${attacker}`, `_gatehouse=${attacker}; ${victim}`]) {
    const res = await request(gh.port, { path: '/', headers: { host: HOST, cookie, accept: 'application/json' } })
    t.equal(res.status, 401, 'no session')
    const who = JSON.parse((await request(gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie } })).text)
    t.equal(who.signed_in, false, 'as nobody, not as bob')
  }
})

t.test('unfinished sign-ins are capped, so tabs cannot grow the Cookie header without end', async (t) => {
  const { p, gh } = await setup(t)
  const jar = new CookieJar()
  for (let i = 0; i < 12; i++) {
    const res = await browse(gh.port, jar, HOST, `/.gatehouse/sign_in?rd=${encodeURIComponent(`/tab-${i}-${'x'.repeat(1500)}`)}`)
    t.equal(res.status, 302)
    const pending = [...jar.keys()].filter((name) => name.startsWith('_gatehouse_tx_'))
    t.ok(pending.length <= 3, `after ${i + 1} sign-ins the browser holds ${pending.length} transaction cookies`)
    t.ok(
      pending.every((name) => jar.get(name)!.length < 4096),
      'each fits one cookie',
    )
  }
  // The newest sign-in still completes.
  const { callback } = await signIn(gh.port, { host: HOST, jar, path: '/.gatehouse/sign_in?rd=/done', login: (url) => p.login(url, 'alice') })
  t.equal(callback.status, 302)
  t.equal(callback.headers.location, `http://${HOST}/done`)
})
