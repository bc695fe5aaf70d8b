// Identity providers end to end: several at once (chooser page, auto_login, routes pinned
// to one), explicit endpoints without discovery, PKCE on and off, client_secret_post,
// userinfo for claims a minimal ID token leaves out, claim mapping (namespaced roles,
// username from email, renamed groups), parallel sign-ins in two tabs, and an IdP that is
// down when Gatehouse starts. Gatehouse, the IdPs and the upstream all run on 127.0.0.1;
// the test plays the browser.

import { randomBytes } from 'node:crypto'
import t from 'tap'
import { startOidcProvider, type RunningOidcProvider } from '../../src/demo/oidc-provider.js'
import { browse, CookieJar, signIn, waitReady } from '../helpers/browser.js'
import { request, type Reply } from '../helpers/client.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, IdpBrowser, NAMESPACED_ROLES_CLAIM, TEST_CLIENT, TEST_USERS, type IdpOptions, type OidcClient, type TestIdp } from '../helpers/idp.js'
import { closedPort, upstream, type Teardown } from '../helpers/upstream.js'

const HOST = 'app.test'
const PINNED_HOST = 'second.test'
const SECRET = randomBytes(32).toString('base64')
const CLIENT_SECRET = TEST_CLIENT.client_secret

/** A client for Gatehouse on `hosts`, in OAuth metadata names. */
const clientFor = (clientId: string, hosts: string[] = [HOST], extra: Partial<OidcClient> = {}): OidcClient => ({
  client_id: clientId,
  client_secret: CLIENT_SECRET,
  redirect_uris: hosts.map((h) => `http://${h}/oauth2/callback`),
  post_logout_redirect_uris: hosts.map((h) => `http://${h}/`),
  ...extra,
})

/** A test IdP with a client `gh` registered for Gatehouse's hosts. */
async function provider(t: Teardown, options: IdpOptions = {}, client: Partial<OidcClient> = {}, hosts: string[] = [HOST]): Promise<TestIdp> {
  const p = await idp(t, options)
  await p.registerClient(clientFor('gh', hosts, client))
  return p
}

/** A browser talking to Gatehouse for one host, with its own cookie jar. */
class Browser {
  readonly jar = new CookieJar()
  constructor(
    readonly gh: RunningGatehouse,
    readonly host = HOST,
  ) {}

  get(path: string, accept = 'text/html'): Promise<Reply> {
    return browse(this.gh.port, this.jar, this.host, path, accept)
  }

  /** The path and query of a URL Gatehouse (or the IdP) sent us to on our host. */
  async follow(url: string, accept = 'text/html'): Promise<Reply> {
    const target = new URL(url, `http://${this.host}`)
    if (target.host !== this.host) throw new Error(`${url} leaves ${this.host}`)
    return this.get(target.pathname + target.search, accept)
  }

  async me(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.get('/.gatehouse/user', 'application/json')).text) as Record<string, unknown>
  }

  /** Starts a sign-in at `signInPath`, signs `user` in at `idp` and delivers the answer to
   *  the callback. Returns the authorization URL and the callback's reply. */
  async signIn(signInPath: string, at: { login(url: string, user: string): Promise<string> }, user: string): Promise<{ authorize: URL; callback: Reply }> {
    const { authorize, callback } = await signIn(this.gh.port, { host: this.host, path: signInPath, jar: this.jar, login: (url) => at.login(url, user) })
    return { authorize, callback }
  }
}

const SESSION = `session:\n  secrets: [${SECRET}]\n`

/** One idps: item; `extra` is more keys, each line indented by four spaces. */
const idpItem = (id: string, p: { issuer: string }, extra = '') =>
  `  - id: ${id}\n    issuer: ${p.issuer}\n    client_id: gh\n    client_secret: ${CLIENT_SECRET}\n${extra}`

const protectedRoute = (from: string, to: string, extra = '') => `  - from: ${from}\n    to: ${to}\n    allow_any_authenticated_user: true\n${extra}`

// ---------------------------------------------------------------------------------
// Several IdPs at once

const FIRST_LOGO = 'https://logos.example.com/first.png?size=24&v=2'
const SECOND_LOGO = 'https://logos.example.com/second.svg'
const SECOND_NAME = `Second <script>alert('x')</script> & Co`

interface TwoIdps {
  gh: RunningGatehouse
  first: TestIdp
  second: TestIdp
}

async function twoIdps(t: Teardown, autoLogin = false): Promise<TwoIdps> {
  const first = await provider(t, {}, {}, [HOST, PINNED_HOST])
  const second = await provider(t, {}, {}, [HOST, PINNED_HOST])
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idps:
${idpItem('first', first, `    name: First Corp SSO\n    logo_url: "${FIRST_LOGO}"\n${autoLogin ? '    auto_login: true\n' : ''}`)}${idpItem('second', second, `    name: "${SECOND_NAME}"\n    logo_url: ${SECOND_LOGO}\n`)}routes:
${protectedRoute(`http://${HOST}`, app.origin)}${protectedRoute(`http://${PINNED_HOST}`, app.origin, '    idp: second\n')}`,
  )
  await waitReady(gh.port, HOST)
  return { gh, first, second }
}

const decodeHtml = (text: string) => text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!)

t.test('two IdPs: the chooser lists both, escaped, and each link signs in with its IdP', async (t) => {
  const s = await twoIdps(t)
  const page = await new Browser(s.gh).get(`/.gatehouse/sign_in?rd=${encodeURIComponent('/inbox')}`)
  t.equal(page.status, 200, 'a page, not a redirect')
  t.match(String(page.headers['content-type']), /^text\/html/)
  t.equal(page.headers['cache-control'], 'no-store')
  t.notOk(page.headers['set-cookie'], 'no transaction is started before a choice is made')
  t.match(page.text, '<span>First Corp SSO</span>')
  t.match(page.text, `<img src="${FIRST_LOGO.replace('&', '&amp;')}" alt="">`, "the first IdP's logo, its & escaped")
  t.match(page.text, `<img src="${SECOND_LOGO}" alt="">`, "the second IdP's logo")
  t.match(page.text, 'Second &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co', 'the display name is HTML-escaped')
  t.notMatch(page.text, /<script/i, 'no markup from the configured name')

  const links = [...page.text.matchAll(/<a class="idp" href="([^"]*)">/g)].map((m) => decodeHtml(m[1]))
  t.equal(links.length, 2, 'one link per IdP')
  const expected = [
    { id: 'first', at: s.first, user: 'alice' },
    { id: 'second', at: s.second, user: 'bob' },
  ]
  for (const [i, { id, at, user }] of expected.entries()) {
    const link = new URL(links[i], `http://${HOST}`)
    t.equal(link.pathname, '/.gatehouse/sign_in')
    t.equal(link.searchParams.get('idp'), id)
    t.equal(link.searchParams.get('rd'), `http://${HOST}/inbox`, 'the link keeps where to go afterwards')
    const browser = new Browser(s.gh)
    const { authorize, callback } = await browser.signIn(link.pathname + link.search, at, user)
    t.equal(authorize.origin + authorize.pathname, at.endpoints.authorization, `${id}'s link goes to ${id}`)
    t.equal(callback.status, 302, `signed in with ${id}`)
    t.equal(callback.headers.location, `http://${HOST}/inbox`)
    t.match(await browser.me(), { signed_in: true, idp: id, user, email: `${user}@example.com` })
  }
  t.equal(s.first.counts.token, 1, 'first exchanged one code')
  t.equal(s.second.counts.token, 1, 'second exchanged one code')
})

t.test('two IdPs: ?idp= picks one, an unknown id is a 400, and a route pinned to one goes straight to it', async (t) => {
  const s = await twoIdps(t)
  const browser = new Browser(s.gh)
  const direct = await browser.get('/.gatehouse/sign_in?idp=second')
  t.equal(direct.status, 302)
  t.equal(new URL(direct.headers.location as string).origin, new URL(s.second.issuer).origin)

  const unknown = await new Browser(s.gh).get('/.gatehouse/sign_in?idp=thrid')
  t.equal(unknown.status, 400)
  t.match(unknown.text, /GH_ERR_BAD_REQUEST/)
  t.match(unknown.text, /no identity provider has the id &quot;thrid&quot;/)
  t.notOk(unknown.headers['set-cookie'], 'no transaction cookie')
  const unknownJson = await new Browser(s.gh).get('/.gatehouse/sign_in?idp=%3Cb%3E', 'application/json')
  t.equal(unknownJson.status, 400)
  t.match(JSON.parse(unknownJson.text), { error: 'GH_ERR_BAD_REQUEST', detail: 'no identity provider has the id "<b>"' })
  t.equal((await new Browser(s.gh).get('/.gatehouse/sign_in?idp=')).status, 400, 'an empty id is unknown too')

  // The pinned route: its sign-in redirect names the IdP, so no chooser is shown.
  const pinned = new Browser(s.gh, PINNED_HOST)
  const first = await pinned.get('/reports?q=1')
  t.equal(first.status, 302)
  const signIn = new URL(first.headers.location as string, `http://${PINNED_HOST}`)
  t.equal(signIn.pathname, '/.gatehouse/sign_in')
  t.equal(signIn.searchParams.get('idp'), 'second', 'the redirect to sign in carries idp=second')
  t.equal(signIn.searchParams.get('rd'), `http://${PINNED_HOST}/reports?q=1`)
  const { authorize, callback } = await pinned.signIn(signIn.pathname + signIn.search, s.second, 'carol')
  t.equal(authorize.origin + authorize.pathname, s.second.endpoints.authorization, 'straight to the second IdP')
  t.equal(callback.status, 302)
  t.equal(callback.headers.location, `http://${PINNED_HOST}/reports?q=1`)
  t.match(await pinned.me(), { signed_in: true, idp: 'second', user: 'carol' })
  t.equal((await pinned.get('/reports')).status, 200, 'and reaches the app')
  t.equal(s.first.counts.authorization, 0, 'the first IdP was never asked')

  // The unpinned route still shows the chooser.
  const unpinned = await new Browser(s.gh).get('/x')
  t.equal(unpinned.status, 302)
  t.notMatch(String(unpinned.headers.location), /idp=/)
  t.equal((await new Browser(s.gh).follow(unpinned.headers.location as string)).status, 200, 'the chooser')
})

t.test('two IdPs: auto_login on one skips the chooser; ?idp= and pinned routes still choose', async (t) => {
  const s = await twoIdps(t, true)
  const browser = new Browser(s.gh)
  const start = await browser.get('/.gatehouse/sign_in?rd=/home')
  t.equal(start.status, 302, 'no chooser')
  const authorize = new URL(start.headers.location as string)
  t.equal(authorize.origin + authorize.pathname, s.first.endpoints.authorization, 'to the auto_login IdP')
  const callback = await browser.follow(await s.first.login(authorize.href, 'alice'))
  t.equal(callback.status, 302)
  t.equal(callback.headers.location, `http://${HOST}/home`)
  t.match(await browser.me(), { signed_in: true, idp: 'first' })

  const other = await new Browser(s.gh).get('/.gatehouse/sign_in?idp=second')
  t.equal(new URL(other.headers.location as string).origin, new URL(s.second.issuer).origin, '?idp=second wins over auto_login')
  const pinned = new Browser(s.gh, PINNED_HOST)
  const redirect = await pinned.get('/')
  const toIdp = await pinned.follow(redirect.headers.location as string)
  t.equal(toIdp.status, 302)
  t.equal(new URL(toIdp.headers.location as string).origin, new URL(s.second.issuer).origin, 'the pinned route wins over auto_login')
})

t.test('two IdPs: an answer from the other IdP than the sign-in chose is refused (mix-up)', async (t) => {
  const s = await twoIdps(t)
  for (const dropIss of [false, true]) {
    const browser = new Browser(s.gh)
    const start = await browser.get('/.gatehouse/sign_in?idp=second&rd=/')
    t.equal(start.status, 302)
    // The same request, sent to the first IdP instead: its code, our state.
    const toFirst = new URL(start.headers.location as string)
    const firstAuth = new URL(s.first.endpoints.authorization)
    toFirst.protocol = firstAuth.protocol
    toFirst.host = firstAuth.host
    const back = new URL(await s.first.login(toFirst.href, 'alice'))
    t.equal(back.searchParams.get('iss'), s.first.issuer)
    if (dropIss) back.searchParams.delete('iss')
    const tokensBefore = s.second.counts.token + s.first.counts.token
    const callback = await browser.follow(back.href)
    t.equal(callback.status, 400, dropIss ? 'without iss' : "with the first IdP's iss")
    t.match(callback.text, /GH_ERR_SIGN_IN_FAILED/)
    t.equal(s.second.counts.token + s.first.counts.token, tokensBefore, 'no code was exchanged')
    t.match(await browser.me(), { signed_in: false })
  }
})

// ---------------------------------------------------------------------------------
// Endpoints, PKCE, client authentication, userinfo

t.test('explicit endpoints: sign-in works without ever fetching discovery', async (t) => {
  const p = await provider(t)
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idp:
  id: manual
  issuer: ${p.issuer}
  authorization_url: ${p.endpoints.authorization}
  token_url: ${p.endpoints.token}
  jwks_url: ${p.endpoints.jwks}
  userinfo_url: ${p.endpoints.userinfo}
  userinfo: true
  client_id: gh
  client_secret: ${CLIENT_SECRET}
  scopes: [openid, profile, email, groups]
routes:
${protectedRoute(`http://${HOST}`, app.origin)}`,
  )
  await waitReady(gh.port, HOST)
  const browser = new Browser(gh)
  const { authorize, callback } = await browser.signIn('/.gatehouse/sign_in?rd=/', p, 'bob')
  t.equal(authorize.origin + authorize.pathname, p.endpoints.authorization)
  t.equal(callback.status, 302, callback.text)
  const me = await browser.me()
  t.match(me, { signed_in: true, idp: 'manual', user: 'bob', email: 'bob@example.com' })
  t.strictSame(me.groups, ['developers'])
  t.equal(p.counts.discovery, 0, 'discovery was never fetched')
  t.ok(p.counts.jwks >= 1, 'the ID token was checked against jwks_url')
  t.equal(p.counts.token, 1)
  t.equal(p.counts.userinfo, 1, 'userinfo_url was used')
})

t.test('pkce: none signs in with an IdP that refuses PKCE; the default sends S256', async (t) => {
  const refusing = await provider(t, { pkce: 'unsupported' })
  const requiring = await provider(t) // pkce 'required': the verifier is checked at the token endpoint
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idps:
${idpItem('nopkce', refusing, '    pkce: none\n')}${idpItem('default', requiring)}routes:
${protectedRoute(`http://${HOST}`, app.origin)}`,
  )
  await waitReady(gh.port, HOST)

  const without = new Browser(gh)
  const a = await without.signIn('/.gatehouse/sign_in?idp=nopkce', refusing, 'alice')
  t.notOk(a.authorize.searchParams.has('code_challenge'), 'no code_challenge')
  t.notOk(a.authorize.searchParams.has('code_challenge_method'), 'no code_challenge_method')
  t.equal(a.callback.status, 302, a.callback.text)
  t.match(await without.me(), { signed_in: true, idp: 'nopkce' })

  const withPkce = new Browser(gh)
  const b = await withPkce.signIn('/.gatehouse/sign_in?idp=default', requiring, 'alice')
  t.equal(b.authorize.searchParams.get('code_challenge_method'), 'S256')
  t.match(b.authorize.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/, 'a SHA-256 challenge')
  t.equal(b.callback.status, 302, 'the IdP accepted the verifier')
  t.match(await withPkce.me(), { signed_in: true, idp: 'default' })
})

t.test('token_endpoint_auth_method: client_secret_post works; basic against a post-only client fails cleanly', async (t) => {
  const p = await provider(t, {}, { token_endpoint_auth_method: 'client_secret_post' })
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idps:
${idpItem('post', p, '    token_endpoint_auth_method: client_secret_post\n')}${idpItem('basic', p)}routes:
${protectedRoute(`http://${HOST}`, app.origin)}`,
  )
  await waitReady(gh.port, HOST)

  const good = new Browser(gh)
  const ok = await good.signIn('/.gatehouse/sign_in?idp=post', p, 'alice')
  t.equal(ok.callback.status, 302, ok.callback.text)
  t.match(await good.me(), { signed_in: true, idp: 'post' })
  t.strictSame(
    p.calls.filter((c) => c.route === 'token').map((c) => [c.clientAuth, c.status]),
    [['client_secret_post', 200]],
  )

  p.resetCalls()
  const bad = new Browser(gh)
  const failed = await bad.signIn('/.gatehouse/sign_in?idp=basic', p, 'alice')
  t.equal(failed.callback.status, 400, 'a 4xx')
  t.match(String(failed.callback.headers['content-type']), /^text\/html/, 'an error page for the browser')
  t.match(failed.callback.text, /GH_ERR_SIGN_IN_FAILED/)
  t.notMatch(failed.callback.text, new RegExp(CLIENT_SECRET), 'the secret is not shown')
  const setCookies = [failed.callback.headers['set-cookie'] ?? []].flat()
  t.notOk(
    setCookies.some((c) => /^_gatehouse=[^;]/.test(c)),
    'no session cookie',
  )
  t.ok(
    setCookies.some((c) => /^_gatehouse_tx_\w+=;/.test(c) || (/^_gatehouse_tx_/.test(c) && /Max-Age=0/i.test(c))),
    'the transaction is cleared',
  )
  t.match(await bad.me(), { signed_in: false })
  t.strictSame(
    p.calls.filter((c) => c.route === 'token').map((c) => [c.clientAuth, c.error]),
    [['client_secret_basic', 'invalid_client']],
  )
})

t.test('userinfo: true takes email and groups from userinfo when the ID token is minimal (Authelia style)', async (t) => {
  const p = await provider(t, { idTokenClaims: 'minimal' })
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idps:
${idpItem('authelia', p, '    userinfo: true\n    scopes: [openid, profile, email, groups]\n')}${idpItem('plain', p, '    scopes: [openid, profile, email, groups]\n')}routes:
${protectedRoute(`http://${HOST}`, app.origin)}`,
  )
  await waitReady(gh.port, HOST)

  const withInfo = new Browser(gh)
  const a = await withInfo.signIn('/.gatehouse/sign_in?idp=authelia', p, 'alice')
  t.equal(a.callback.status, 302, a.callback.text)
  const info = await withInfo.me()
  t.match(info, { signed_in: true, user: 'alice', email: 'alice@example.com', name: 'Alice Admin' })
  t.strictSame(info.groups, ['admins', 'Kasm Premium'], 'groups from userinfo')
  t.equal(p.counts.userinfo, 1, 'userinfo was asked once')

  // The control: the same IdP without userinfo has nothing but sub.
  const without = new Browser(gh)
  const b = await without.signIn('/.gatehouse/sign_in?idp=plain', p, 'alice')
  t.equal(b.callback.status, 302)
  const me = await without.me()
  t.match(me, { signed_in: true, user: 'alice' })
  t.strictSame(me.groups, [], 'no groups')
  t.equal(me.email, undefined, 'the minimal ID token carries no email')
  t.equal(p.counts.userinfo, 1, 'no userinfo request without userinfo: true')
})

t.test('claims mapping: groups from the namespaced roles claim, username from email, renamed groups', async (t) => {
  const p = await provider(t)
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idp:
  id: auth0
  issuer: ${p.issuer}
  client_id: gh
  client_secret: ${CLIENT_SECRET}
  scopes: [openid, profile, email, roles]
  groups_claim: ${NAMESPACED_ROLES_CLAIM}
  username_claim: email
  group_mappings:
    admin: administrators
routes:
  - from: http://${HOST}
    to: ${app.origin}
    pass_identity_headers: true
    policy:
      allow:
        or:
          - groups: { has: administrators }
`,
  )
  await waitReady(gh.port, HOST)
  const alice = new Browser(gh)
  t.equal((await alice.signIn('/.gatehouse/sign_in', p, 'alice')).callback.status, 302)
  const me = await alice.me()
  t.match(me, { signed_in: true, user: 'alice@example.com', email: 'alice@example.com', sub: 'alice' })
  t.strictSame(me.groups, ['administrators'], 'admin renamed; the groups claim is not used')
  const page = await alice.get('/admin')
  t.equal(page.status, 200, 'the policy sees the mapped group')
  t.equal(app.received.at(-1)!.headers['x-forwarded-user'], 'alice@example.com')
  t.equal(app.received.at(-1)!.headers['x-forwarded-groups'], 'administrators')

  const bob = new Browser(gh)
  t.equal((await bob.signIn('/.gatehouse/sign_in', p, 'bob')).callback.status, 302)
  const bobMe = await bob.me()
  t.equal(bobMe.user, 'bob@example.com')
  t.strictSame(bobMe.groups, ['developer'], 'an unmapped role keeps its name')
  const denied = await bob.get('/admin', 'application/json')
  t.equal(denied.status, 403)
  t.equal(JSON.parse(denied.text).error, 'GH_ERR_FORBIDDEN')
  t.equal(app.received.length, 1, 'only alice reached the app')
})

// ---------------------------------------------------------------------------------
// Two tabs, and an IdP that is down

t.test('parallel sign-ins in two tabs: completing the second first, then the first, both succeed', async (t) => {
  const p = await provider(t)
  const app = await upstream(t)
  const gh = await gatehouse(t, `${SESSION}idps:\n${idpItem('only', p)}routes:\n${protectedRoute(`http://${HOST}`, app.origin)}`)
  await waitReady(gh.port, HOST)
  const browser = new Browser(gh)
  const tab1 = await browser.get(`/.gatehouse/sign_in?rd=${encodeURIComponent('/one')}`)
  const tab2 = await browser.get(`/.gatehouse/sign_in?rd=${encodeURIComponent('/two')}`)
  t.equal(tab1.status, 302)
  t.equal(tab2.status, 302)
  const txCookies = [...browser.jar.keys()].filter((k) => k.startsWith('_gatehouse_tx_'))
  t.equal(txCookies.length, 2, 'two transaction cookies side by side')

  const idpBrowser = p.browser() // one browser: the second login reuses the IdP session
  const back2 = await idpBrowser.login(tab2.headers.location as string, 'alice')
  const back1 = await idpBrowser.login(tab1.headers.location as string, 'alice')
  const done2 = await browser.follow(back2)
  t.equal(done2.status, 302, done2.text)
  t.equal(done2.headers.location, `http://${HOST}/two`)
  t.equal([...browser.jar.keys()].filter((k) => k.startsWith('_gatehouse_tx_')).length, 1, "the first tab's transaction is still there")
  const done1 = await browser.follow(back1)
  t.equal(done1.status, 302, done1.text)
  t.equal(done1.headers.location, `http://${HOST}/one`)
  t.equal([...browser.jar.keys()].filter((k) => k.startsWith('_gatehouse_tx_')).length, 0, 'both transactions are cleared')
  t.match(await browser.me(), { signed_in: true, user: 'alice' })
  t.equal((await browser.get('/one')).status, 200)
  t.equal(p.counts.token, 2)
})

t.test('an IdP that is down at start: Gatehouse serves, is not ready, and recovers once the IdP is up', async (t) => {
  const port = await closedPort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `${SESSION}idps:
  - id: late
    name: Late IdP
    issuer: ${issuer}
    client_id: gh
    client_secret: ${CLIENT_SECRET}
routes:
${protectedRoute(`http://${HOST}`, app.origin)}  - from: http://public.test
    to: ${app.origin}
    allow_public_unauthenticated_access: true
`,
  )
  await new Promise((r) => setTimeout(r, 100)) // the first discovery attempt fails at once
  const notReady = await request(gh.port, { path: '/readyz', headers: { host: HOST } })
  t.equal(notReady.status, 503)
  const body = JSON.parse(notReady.text) as { status: string; checks: Record<string, string> }
  t.equal(body.status, 'not ready')
  t.match(body.checks.idps, /^late: /, 'readiness names the IdP')

  const open = await request(gh.port, { path: '/hello', headers: { host: 'public.test' } })
  t.equal(open.status, 200, 'public routes still serve')
  t.equal(app.received.at(-1)?.url, '/hello')

  const browser = new Browser(gh)
  const signIn = await browser.get('/.gatehouse/sign_in?rd=/')
  t.equal(signIn.status, 503)
  t.match(String(signIn.headers['content-type']), /^text\/html/)
  t.match(signIn.text, /GH_ERR_IDP_UNAVAILABLE/)
  t.match(signIn.text, /Late IdP cannot be reached/)
  t.notOk(signIn.headers['set-cookie'], 'no transaction is started')
  const protectedPage = await browser.get('/')
  t.equal(protectedPage.status, 302, 'a protected page still sends the browser to sign in')

  let late: RunningOidcProvider | undefined
  t.teardown(() => late?.close())
  late = await startOidcProvider({
    host: '127.0.0.1',
    port,
    clients: [clientFor('gh')],
    users: TEST_USERS.map((u) => structuredClone(u)),
    label: 'TEST',
    title: 'Late test IdP',
    notice: 'Started after Gatehouse.',
    cookiePrefix: '_late_idp',
  })
  t.equal(late.issuer, issuer)
  const upAt = Date.now()
  await waitReady(gh.port, HOST, 8000)
  const waited = Date.now() - upAt
  t.ok(waited < 5000, `ready ${waited} ms after the IdP came up`)
  t.comment(`ready ${waited} ms after the IdP came up`)
  t.equal(JSON.parse((await request(gh.port, { path: '/readyz', headers: { host: HOST } })).text).checks.idps, 'ok')
  const retries = gh.logs.filter((l) => l.msg === 'identity provider not reachable; retrying')
  t.ok(retries.length >= 1, 'failed attempts are logged')
  t.strictSame(
    retries.map((l) => l.retry_ms),
    [1000, 2000, 4000, 8000].slice(0, retries.length),
    'retried with backoff starting at 1 s',
  )
  t.ok(
    retries.every((l) => l.idp === 'late'),
    'each log line names the IdP',
  )
  t.match(retries[0], { url: issuer, err: { reason: 'ECONNREFUSED', cause: /ECONNREFUSED/ } }, 'and the URL and the cause')
  t.notMatch(JSON.stringify(gh.logs), CLIENT_SECRET, 'the client secret is never logged')

  const { callback } = await browser.signIn('/.gatehouse/sign_in?rd=/', new IdpBrowser(new URL(issuer).origin), 'alice')
  t.equal(callback.status, 302, callback.text)
  t.match(await browser.me(), { signed_in: true, idp: 'late', user: 'alice' })
})
