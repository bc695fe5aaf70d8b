// The pages people see: each says what happened and what to do next, escapes whatever
// a user, an IdP or a client supplied, carries a strict Content-Security-Policy, and
// follows the operator's branding and templates. JSON clients get the same facts as JSON.

import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { request } from '../helpers/client.js'
import { configDir, gatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, TEST_USERS } from '../helpers/idp.js'
import { upstream } from '../helpers/upstream.js'
import { newSecret, session, signedInGatehouse } from '../security/signin.js'

const APP = 'app.test'
const ADMIN = 'admin.test'
const EVIL_NAME = 'Bob <script>alert(1)</script>'

async function setup(t: Test, extraRoutes = '', top = '') {
  const users = TEST_USERS.map((u) => (u.id === 'bob' ? { ...structuredClone(u), name: EVIL_NAME } : structuredClone(u)))
  const p = await idp(t, { users })
  const hosts = [APP, ADMIN, 'other.test']
  p.registerClient({
    ...TEST_CLIENT,
    client_id: 'pages',
    redirect_uris: hosts.map((h) => `http://${h}/oauth2/callback`),
    post_logout_redirect_uris: hosts.map((h) => `http://${h}/.gatehouse/signed_out`),
  })
  const app = await upstream(t, {})
  const gh = await signedInGatehouse(
    t,
    `${top}idps:
  - id: test
    name: Continue with the test IdP
    issuer: ${p.issuer}
    client_id: pages
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups]
session:
  secrets: [${newSecret()}]
routes:
  - name: app
    from: http://${APP}
    to: ${app.origin}
    allow_any_authenticated_user: true
  - name: admin
    from: http://${ADMIN}
    to: ${app.origin}
    explanation: "Only <b>admins</b> may enter; ask #it-help"
    remediation: https://wiki.example.com/access?x=1&y=2
    policy:
      - allow:
          or:
            - groups: { has: admins }
${extraRoutes}`,
    APP,
  )
  return { p, gh, app }
}

const html = { accept: 'text/html' }

/** The one <style> element's text, and the hash the CSP must name for it. */
function styleHash(page: string): string {
  const css = /<style>([\s\S]*?)<\/style>/.exec(page)![1]
  return createHash('sha256').update(css).digest('base64')
}

function assertStrictPage(t: Test, res: { headers: Record<string, unknown>; text: string }, what: string) {
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /default-src 'none'/, `${what}: default-src 'none'`)
  t.match(csp, /frame-ancestors 'none'/, `${what}: not framable`)
  t.ok(csp.includes(`'sha256-${styleHash(res.text)}'`), `${what}: the stylesheet is allowed by its hash`)
  t.notMatch(csp, /unsafe-inline|script-src/, `${what}: no scripts at all`)
  t.notMatch(res.text, /<script/i, `${what}: no script element`)
  t.match(res.text, /<html lang="en">/, `${what}: has a language`)
  t.match(res.text, /<main id="main">/, `${what}: has a main landmark`)
  t.equal(res.headers['cache-control'], 'no-store', `${what}: never cached`)
}

t.test('the 403 page says who you are, which route refused, why, and what to do', async (t) => {
  const { p, gh } = await setup(t)
  const jar = await session(gh, p, ADMIN, 'bob')
  const res = await request(gh.port, { path: '/reports?q=1', headers: { host: ADMIN, cookie: jar.header(), ...html } })
  t.equal(res.status, 403)
  assertStrictPage(t, res, '403')
  t.match(res.text, /<h1>Access denied<\/h1>/)
  t.match(res.text, /Bob &lt;script&gt;alert\(1\)&lt;\/script&gt;/, "the user's name, escaped")
  t.match(res.text, /bob@example\.com/)
  t.match(res.text, /in the groups developers/)
  t.match(res.text, /<strong>admin<\/strong>/, 'the route that refused')
  t.match(res.text, /Only &lt;b&gt;admins&lt;\/b&gt; may enter; ask #it-help/, 'the explanation, escaped')
  t.match(res.text, /<a href="https:\/\/wiki\.example\.com\/access\?x=1&amp;y=2">/, 'the remediation link')
  t.match(res.text, new RegExp(`request id <code>${res.headers['x-request-id']}</code>`), 'the request id to give an admin')
  t.match(res.text, /href="\/\.gatehouse\/">Your account<\/a>/)
  const someoneElse = /<a class="button" href="([^"]+)">Sign in as someone else<\/a>/.exec(res.text)
  t.ok(someoneElse, 'sign in as someone else')
  const target = new URL(someoneElse![1].replaceAll('&amp;', '&'), `http://${ADMIN}`)
  t.equal(target.searchParams.get('rd'), `http://${ADMIN}/reports?q=1`, 'back to the refused page afterwards')
  t.equal(target.searchParams.get('prompt'), 'login')
  const start = await request(gh.port, { path: target.pathname + target.search, headers: { host: ADMIN, cookie: jar.header() } })
  t.equal(start.status, 302)
  t.equal(new URL(String(start.headers.location)).searchParams.get('prompt'), 'login', 'the IdP is asked to authenticate again')

  const json = await request(gh.port, { path: '/reports', headers: { host: ADMIN, cookie: jar.header(), accept: 'application/json' } })
  t.equal(json.status, 403)
  t.match(JSON.parse(json.text), {
    error: 'GH_ERR_FORBIDDEN',
    route: 'admin',
    explanation: 'Only <b>admins</b> may enter; ask #it-help',
    remediation: 'https://wiki.example.com/access?x=1&y=2',
    request_id: json.headers['x-request-id'],
  })
})

t.test('remediation that is not a web address is shown as text, never as a link', async (t) => {
  const { p } = await setup(t)
  const gh2 = await signedInGatehouse(
    t,
    `idps:
  - id: test
    issuer: ${p.issuer}
    client_id: pages
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${newSecret()}]
routes:
  - from: http://${APP}
    to: http://127.0.0.1:9
    remediation: "javascript:alert(1)"
    allowed_users: [nobody]
`,
    APP,
  )
  const jar = await session(gh2, p, APP, 'carol')
  const res = await request(gh2.port, { path: '/', headers: { host: APP, cookie: jar.header(), ...html } })
  t.equal(res.status, 403)
  t.match(res.text, /<p>javascript:alert\(1\)<\/p>/)
  t.notMatch(res.text, /href="javascript/)
  t.match(res.text, /in no groups/)
})

t.test('the user page shows who you are, your groups, all claims, readable times and the routes you can reach, never tokens', async (t) => {
  const { p, gh } = await setup(t)
  const jar = await session(gh, p, APP, 'bob')
  const res = await request(gh.port, { path: '/.gatehouse/', headers: { host: APP, cookie: jar.header(), ...html } })
  t.equal(res.status, 200)
  assertStrictPage(t, res, 'user page')
  t.match(res.text, /Bob &lt;script&gt;/, 'escaped name')
  t.match(res.text, /<th scope="row">Groups<\/th><td>developers<\/td>/)
  t.match(res.text, /<code>email<\/code><\/th><td>bob@example\.com<\/td>/, 'claims in a table')
  t.match(res.text, /<code>sub<\/code>/)
  t.match(res.text, /Session ends<\/th><td><time datetime="[^"]+">[^<]+UTC<\/time> \(in 1[34] h \d+ min\)/, 'expiry as a readable time')
  t.match(res.text, /Signed in<\/th><td><time datetime="[^"]+">[^<]+UTC<\/time> \((just now|1 min ago)\)/, 'sign-in time, relative too')
  t.match(res.text, /Identity provider<\/th><td>Continue with the test IdP<\/td>/, "the IdP's name")
  t.match(res.text, /<a href="http:\/\/app\.test\/">app<\/a>/, 'a route bob can reach')
  t.notMatch(res.text, />admin<\/a>/, 'not one he cannot')
  t.notMatch(res.text, /eyJ/, 'no token of any kind')
  t.match(res.text, /href="\/\.gatehouse\/sign_out"/, 'and a way to sign out')

  const json = JSON.parse((await request(gh.port, { path: '/.gatehouse/user', headers: { host: APP, cookie: jar.header() } })).text)
  t.match(json, {
    signed_in: true,
    user: 'bob',
    idp: 'test',
    idp_name: 'Continue with the test IdP',
    groups: ['developers'],
    claims: { email: 'bob@example.com' },
  })
  t.type(json.expires_at, 'number')
  t.type(json.signed_in_at, 'number')
  t.notMatch(JSON.stringify(json), /eyJ|nonce/, 'no tokens, no protocol claims')

  const carol = await session(gh, p, APP, 'carol')
  const page = await request(gh.port, { path: '/.gatehouse/', headers: { host: APP, cookie: carol.header(), ...html } })
  t.match(page.text, /<td>no groups<\/td>/)
  const anonymous = await request(gh.port, { path: '/.gatehouse/', headers: { host: APP, ...html } })
  t.match(anonymous.text, /You are not signed in/)
  t.match(anonymous.text, /href="\/\.gatehouse\/sign_in\?rd=%2F"/, 'with a way to sign in')
})

t.test('sign-out ends the session on every host, shows a signed-out page, and the next sign-in asks again', async (t) => {
  const { p, gh } = await setup(t)
  const onApp = await session(gh, p, APP, 'alice')
  const onAdmin = await session(gh, p, ADMIN, 'alice')
  t.equal((await request(gh.port, { path: '/', headers: { host: ADMIN, cookie: onAdmin.header() } })).status, 200, 'signed in on both')
  const out = await request(gh.port, { path: '/.gatehouse/sign_out?rd=/x', headers: { host: APP, cookie: onApp.header() } })
  t.equal(out.status, 302)
  t.equal(out.headers.location, `http://${APP}/.gatehouse/signed_out`, 'logout: false stays here')
  onApp.absorb(out)
  const gone = await request(gh.port, { path: '/', headers: { host: ADMIN, cookie: onAdmin.header(), accept: 'application/json' } })
  t.equal(gone.status, 401, 'the session on the other host ended too')
  t.match(
    gh.logs.find((l) => l.msg === 'signed out'),
    { event: 'sign_out', idp: 'test', user: 'alice' },
    'the sign-out is logged as an event',
  )

  const page = await request(gh.port, { path: '/.gatehouse/signed_out', headers: { host: APP, cookie: onApp.header(), ...html } })
  t.equal(page.status, 200)
  assertStrictPage(t, page, 'signed out')
  t.match(page.text, /<h1>You are signed out<\/h1>/)
  t.match(page.text, /You may still be signed in at Continue with the test IdP/, 'says the IdP session was not ended')
  t.match(page.text, /href="\/\.gatehouse\/sign_in\?rd=http%3A%2F%2Fapp\.test%2Fx&amp;prompt=login">Sign in again/)

  // The IdP session lives on (logout: false): the next sign-in asks for credentials.
  const next = await request(gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: { host: APP, cookie: onApp.header() } })
  t.equal(next.status, 302)
  t.equal(new URL(String(next.headers.location)).searchParams.get('prompt'), 'login', 'prompt=login after signing out')
  const fresh = await request(gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: { host: APP } })
  t.equal(new URL(String(fresh.headers.location)).searchParams.get('prompt'), null, 'but not for a browser that did not sign out')
  // Signing in again clears the marker.
  const again = await session(gh, p, APP, 'alice')
  t.equal((await request(gh.port, { path: '/', headers: { host: APP, cookie: again.header() } })).status, 200, 'signing in again works at once')
})

t.test('errors name the next step: 404 names the host, 502 says what happened and what to do', async (t) => {
  const { gh } = await setup(t, `  - from: http://down.test\n    to: http://127.0.0.1:9\n    allow_public_unauthenticated_access: true\n`)
  const missing = await request(gh.port, { path: '/x', headers: { host: 'nothing-here.test', ...html } })
  t.equal(missing.status, 404)
  assertStrictPage(t, missing, '404')
  t.match(missing.text, /Nothing is served here/)
  t.match(missing.text, /nothing-here\.test\/x/, 'names the host')
  t.match(missing.text, /<h2>What you can do<\/h2>/)
  const json = JSON.parse((await request(gh.port, { path: '/x', headers: { host: 'nothing-here.test' } })).text)
  t.match(json, { error: 'GH_ERR_NO_ROUTE', status: 404, detail: /nothing-here\.test/ })

  const down = await request(gh.port, { path: '/', headers: { host: 'down.test', ...html } })
  t.equal(down.status, 502)
  assertStrictPage(t, down, '502')
  t.match(down.text, /The application is not answering/)
  t.match(down.text, /<h2>What happened<\/h2>/)
  t.match(down.text, /Try again in a minute/)
  t.match(down.text, /GH_ERR_UPSTREAM_UNAVAILABLE/)
})

t.test('branding and templates_dir shape every page', async (t) => {
  const gh = await gatehouse(t, {
    config: `branding:
  name: "Acme <Corp>"
  logo_url: https://cdn.example.com/logo.png
  primary_color: "#ffcc00"
  footer: "© Acme <support>"
templates_dir: ./templates
routes:
  - from: http://${APP}
    to: http://127.0.0.1:9
    allow_public_unauthenticated_access: true
`,
    files: {
      'templates/layout.html':
        '<!doctype html><html lang="en"><head>{{head}}</head><body><header>{{header}}</header><main id="main"><div class="acme">{{content}}</div></main><footer>{{footer}} · {{brand}}</footer></body></html>',
      'templates/style.css': '.acme{border-top:4px solid #ffcc00}',
    },
  })
  const res = await request(gh.port, { path: '/', headers: { host: 'unknown.test', ...html } })
  t.equal(res.status, 404)
  assertStrictPage(t, res, 'branded')
  t.match(res.text, /<div class="acme"><h1>Nothing is served here<\/h1>/, 'the layout wraps the page')
  t.match(res.text, /\.acme\{border-top:4px solid #ffcc00\}/, 'the added stylesheet')
  t.match(res.text, /<span>Acme &lt;Corp&gt;<\/span>/, 'the name, escaped')
  t.match(res.text, /<title>404 Nothing is served here · Acme &lt;Corp&gt;<\/title>/)
  t.match(res.text, /© Acme &lt;support&gt; · Acme &lt;Corp&gt;/, 'the footer, escaped')
  t.match(res.text, /--primary:#ffcc00;--on-primary:#111111/, 'dark text on a light brand colour')
  t.match(res.text, /<img src="https:\/\/cdn\.example\.com\/logo\.png" alt="">/)
  t.match(String(res.headers['content-security-policy']), /img-src 'self' https:\/\/cdn\.example\.com;/, 'the logo origin, and only it')
})

t.test('templates and branding that cannot work are refused at load, all at once', async (t) => {
  const load = async (config: string, files: Record<string, string> = {}) => {
    const dir = configDir(t, { config, files })
    return loadConfig(dir.configFile, { env: {} })
  }
  await t.rejects(
    load('templates_dir: ./t\n', { 't/layout.html': '<html>{{head}}{{contents}}</html>', 't/style.css': 'a{}</style><script>x()</script>' }),
    { code: 'GH_ERR_CONFIG_INVALID', message: /unknown placeholder \{\{contents\}\}[\s\S]*style\.css: the stylesheet must not contain/ },
    'an unknown placeholder and a stylesheet that breaks out, in one report',
  )
  await t.rejects(load('templates_dir: ./t\n', { 't/layout.html': '<html>{{head}}</html>' }), { message: /must contain \{\{content\}\}/ })
  await t.rejects(load('templates_dir: ./missing\n'), { message: /templates folder \.\/missing cannot be read: ENOENT/ })
  await t.rejects(load('templates_dir: ./t\n', { 't/readme.txt': 'x' }), { message: /has neither layout\.html nor style\.css/ })
  await t.rejects(load('branding: { primary_color: "red;} body{display:none" }\n'), { message: /must be a hex colour/ })
  await t.rejects(load('branding: { logo_url: "javascript:alert(1)" }\n'), { message: /must be an https URL or a path/ })
})
