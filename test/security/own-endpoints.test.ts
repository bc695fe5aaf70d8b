// Gatehouse's own endpoints against other sites and hosts: a cross-site sign-out asks
// first; sign-in starts only on hosts Gatehouse serves; answers to signed-in requests
// are never left for shared caches.

import t, { type Test } from 'tap'
import { request } from '../helpers/client.js'
import { upstream } from '../helpers/upstream.js'
import { idpYaml, newSecret, provider, session, signedInGatehouse } from './signin.js'

const HOST = 'app.test'

async function setup(t: Test, handler?: Parameters<typeof upstream>[1]) {
  const p = await provider(t, [HOST])
  const app = await upstream(t, handler ?? {})
  const gh = await signedInGatehouse(
    t,
    `${idpYaml(p, newSecret())}routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
  - from: http://public.test
    to: ${app.origin}
    allow_public_unauthenticated_access: true
`,
    HOST,
  )
  return { p, gh }
}

const signedIn = async (gh: Awaited<ReturnType<typeof setup>>['gh'], cookie: string) =>
  (await request(gh.port, { path: '/', headers: { host: HOST, cookie, accept: 'application/json' } })).status === 200

t.test('a sign-out another site asked for is confirmed by the user first', async (t) => {
  const { p, gh } = await setup(t)
  const cookie = (await session(gh, p, HOST, 'alice')).header()
  const crossSite: Record<string, string>[] = [{ 'sec-fetch-site': 'cross-site' }, { referer: 'https://evil.example/page' }]
  for (const headers of crossSite) {
    const res = await request(gh.port, { path: '/.gatehouse/sign_out?rd=/after', headers: { host: HOST, cookie, ...headers } })
    t.equal(res.status, 200, `${JSON.stringify(headers)}: a confirmation page, not a sign-out`)
    t.match(res.text, /<form method="post" action="\/\.gatehouse\/sign_out\?rd=http%3A%2F%2Fapp\.test%2Fafter"/)
    t.equal(res.headers['set-cookie'], undefined, 'no cookie cleared')
    t.ok(await signedIn(gh, cookie), 'still signed in')
  }
  const forged = await request(gh.port, { method: 'POST', path: '/.gatehouse/sign_out', headers: { host: HOST, cookie, origin: 'https://evil.example' } })
  t.equal(forged.status, 200, "a POST from another site's form gets the page too")
  t.ok(await signedIn(gh, cookie), 'still signed in')

  const confirmed = await request(gh.port, {
    method: 'POST',
    path: '/.gatehouse/sign_out?rd=/after',
    headers: { host: HOST, cookie, origin: `http://${HOST}` },
  })
  t.equal(confirmed.status, 302, 'the button on our own page signs out')
  t.equal(confirmed.headers.location, `http://${HOST}/.gatehouse/signed_out`, 'on to the signed-out page')
  t.notOk(await signedIn(gh, cookie), 'signed out')

  const again = (await session(gh, p, HOST, 'alice')).header()
  const sameSite = await request(gh.port, {
    path: '/.gatehouse/sign_out',
    headers: { host: HOST, cookie: again, 'sec-fetch-site': 'same-origin', referer: `http://${HOST}/page` },
  })
  t.equal(sameSite.status, 302, 'a link on our own pages signs out at once')
})

t.test('sign-in starts only on a host that a route serves', async (t) => {
  const { gh, p } = await setup(t)
  const res = await request(gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: { host: 'unrouted.test', accept: 'application/json' } })
  t.equal(res.status, 404)
  t.equal(JSON.parse(res.text).error, 'GH_ERR_NO_ROUTE')
  t.equal(p.counts.authorization, 0, 'no flow started with that host in redirect_uri')
  t.equal((await request(gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: { host: HOST } })).status, 302, 'a routed host starts one')
})

t.test('answers to requests with a session are never publicly cacheable', async (t) => {
  const cases: [string | undefined, string][] = [
    [undefined, 'private'],
    ['public, max-age=600', 'private, max-age=600'],
    ['max-age=60, s-maxage=3600', 'private, max-age=60'],
    ['private, max-age=60', 'private, max-age=60'],
    ['no-store', 'no-store'],
  ]
  let next: string | undefined
  const { p, gh } = await setup(t, (_req, res) => {
    if (next !== undefined) res.setHeader('cache-control', next)
    res.end('data')
  })
  const cookie = (await session(gh, p, HOST, 'alice')).header()
  for (const [upstreamSays, expected] of cases) {
    next = upstreamSays
    const res = await request(gh.port, { path: '/', headers: { host: HOST, cookie } })
    t.equal(res.headers['cache-control'], expected, `upstream ${JSON.stringify(upstreamSays)}`)
  }
  next = 'public, max-age=600'
  const anonymous = await request(gh.port, { path: '/', headers: { host: 'public.test' } })
  t.equal(anonymous.headers['cache-control'], 'public, max-age=600', 'without a session the upstream decides')
})
