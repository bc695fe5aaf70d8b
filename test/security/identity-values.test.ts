// What an IdP says about a user reaches upstreams safely: names, usernames, emails and
// groups outside ASCII (or holding control characters or commas) neither crash nor break
// any transport; an email the IdP has not verified grants nothing; a refresh re-reads
// the user, so a group the IdP removed stops granting access.

import t, { type Test } from 'tap'
import { request } from '../helpers/client.js'
import { idp, TEST_CLIENT, type OidcUser, type TestIdp } from '../helpers/idp.js'
import { upstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'
import { newSecret, session, signedInGatehouse } from './signin.js'

const HOST = 'app.test'

const USERS: OidcUser[] = [
  { id: 'zoe', email: 'zoë@example.com', name: 'Zoë Łopez', preferred_username: 'Łukasz', groups: ['Sales, EMEA', 'Zoë', 'staff'] },
  { id: 'ctl', email: 'ctl@example.com', name: 'Evil\r\nX-Injected: 1', preferred_username: ' tab\tuser ', groups: ['staff'] },
  { id: 'mallory', email: 'boss@example.com', email_verified: false, preferred_username: 'mallory', groups: [] },
  { id: 'stringly', email: 'boss@example.com', email_verified: 'false' as unknown as boolean, preferred_username: 'stringly', groups: [] },
  { id: 'boss', email: 'boss@example.com', preferred_username: 'boss', groups: [] },
  { id: 'temp', email: 'temp@example.org', preferred_username: 'temp', groups: ['staff'] },
]

async function setup(t: Test, options: { accessTokenTtl?: number; idpExtra?: string } = {}) {
  const p: TestIdp = await idp(t, {
    users: USERS.map((u) => structuredClone(u)),
    ...(options.accessTokenTtl ? { accessTokenTtl: options.accessTokenTtl } : {}),
  })
  p.registerClient({
    ...TEST_CLIENT,
    client_id: 'values',
    redirect_uris: [`http://${HOST}/oauth2/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
  })
  const app = await upstream(t, { websockets: true })
  const gh = await signedInGatehouse(
    t,
    `trusted_proxies: [127.0.0.1]
jwt_claims_headers:
  X-Name: name
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: values
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups, offline_access]
${options.idpExtra ?? ''}session:
  secrets: [${newSecret()}]
routes:
  - name: app
    from: http://${HOST}
    to: ${app.origin}
    allow_websockets: true
    pass_identity_headers: true
    policy:
      - allow:
          or:
            - groups: { has: staff }
            - email: { is: boss@example.com }
`,
    HOST,
  )
  return { p, app, gh }
}

t.test('names, usernames, emails and groups outside ASCII are encoded on every transport, and nothing crashes', async (t) => {
  const s = await setup(t)
  for (const user of ['zoe', 'ctl']) {
    const cookie = (await session(s.gh, s.p, HOST, user)).header()
    const http = await request(s.gh.port, { path: '/x', headers: { host: HOST, cookie } })
    t.equal(http.status, 200, `${user}: HTTP is forwarded, not 502`)
    const seen = s.app.received.at(-1)!.headers
    const expected = USERS.find((u) => u.id === user)!
    t.equal(decodeURIComponent(String(seen['x-forwarded-user'])), expected.preferred_username, `${user}: X-Forwarded-User decodes to the username`)
    t.equal(decodeURIComponent(String(seen['x-forwarded-email'])), expected.email)
    t.equal(decodeURIComponent(String(seen['x-name'])), expected.name, `${user}: jwt_claims_headers too`)
    t.strictSame(String(seen['x-forwarded-groups']).split(',').map(decodeURIComponent), expected.groups, `${user}: a comma inside a group does not split it`)
    t.notOk('x-injected' in seen, `${user}: control characters inject nothing`)

    t.equal((await websocketHandshake(s.gh.port, { host: HOST, cookie, close: true })).status, 101, `${user}: the websocket opens`)
    const fa = await request(s.gh.port, { path: '/.gatehouse/auth', headers: { host: 'auth.internal', 'x-original-url': `http://${HOST}/x`, cookie } })
    t.equal(fa.status, 200, `${user}: forward-auth answers 200, not 500`)
    t.equal(decodeURIComponent(String(fa.headers['x-auth-request-user'])), expected.preferred_username)
  }
  t.equal((await request(s.gh.port, { path: '/ping', headers: { host: HOST } })).status, 200, 'Gatehouse is still up')
})

t.test('an email the IdP marks unverified satisfies no email policy and is not sent', async (t) => {
  const s = await setup(t)
  for (const user of ['mallory', 'stringly']) {
    const cookie = (await session(s.gh, s.p, HOST, user)).header()
    const res = await request(s.gh.port, { path: '/x', headers: { host: HOST, cookie, accept: 'application/json' } })
    t.equal(res.status, 403, `${user}: email_verified ${user === 'mallory' ? 'false' : '"false"'} does not pass email: is boss@example.com`)
    const who = JSON.parse((await request(s.gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie } })).text)
    t.equal(who.email, undefined, `${user}: the session holds no email`)
  }
  const boss = (await session(s.gh, s.p, HOST, 'boss')).header()
  t.equal((await request(s.gh.port, { path: '/x', headers: { host: HOST, cookie: boss } })).status, 200, 'the verified owner of the address gets in')
  t.equal(s.app.received.at(-1)!.headers['x-forwarded-email'], 'boss@example.com')
})

t.test('require_verified_email: false keeps unverified emails, for IdPs that never verify', async (t) => {
  const s = await setup(t, { idpExtra: '    require_verified_email: false\n' })
  const cookie = (await session(s.gh, s.p, HOST, 'mallory')).header()
  t.equal((await request(s.gh.port, { path: '/x', headers: { host: HOST, cookie } })).status, 200)
})

t.test('after a refresh, groups the IdP removed no longer grant access', async (t) => {
  const s = await setup(t, { accessTokenTtl: 2 })
  const jar = await session(s.gh, s.p, HOST, 'temp')
  t.equal((await request(s.gh.port, { path: '/x', headers: { host: HOST, cookie: jar.header() } })).status, 200, 'a member of staff')
  s.p.users.find((u) => u.id === 'temp')!.groups = []
  await new Promise((r) => setTimeout(r, 1100))
  const after = await request(s.gh.port, { path: '/x', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })
  t.equal(after.status, 403, 'the refreshed session no longer has the group')
  jar.absorb(after)
  const who = JSON.parse((await request(s.gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie: jar.header() } })).text)
  t.strictSame(who.groups, [], 'and the session says so')
})
