// Break-glass local accounts: the hash-password command, the accounts file refused at
// load with file:line, and signing in against a real Gatehouse and upstream, rate limits
// and policies included.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { parsePasswordHash, verifyPassword, hashPassword } from '../../src/auth/local-accounts.js'
import { addressKey } from '../../src/auth/local-sign-in.js'
import { loadConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { Metrics } from '../../src/ops/metrics.js'
import { CookieJar, browse } from '../helpers/browser.js'
import { request, type Reply } from '../helpers/client.js'
import { ROOT, runCli, shown } from '../helpers/cli.js'
import { configDir, gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { upstream, type EchoUpstream, type Teardown } from '../helpers/upstream.js'

const HOST = 'app.test'
const ORIGIN = `http://${HOST}`
const SECRET = randomBytes(32).toString('base64')
const PASSWORD = 'correct horse battery staple'

/** `gatehouse hash-password` with `input` piped to its stdin. */
function hashPasswordCli(input: string, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'hash-password', ...args], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(input)
  })
}

t.test('hash-password: a piped password comes back as an scrypt hash that verifies it, and nothing else', async (t) => {
  const run = await hashPasswordCli(`${PASSWORD}\n`)
  t.equal(run.code, 0, run.stderr)
  const text = run.stdout.trim()
  t.match(text, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, 'scrypt$N$r$p$salt$key, N=2^15 r=8 p=1, 16-byte salt')
  const hash = parsePasswordHash(text)
  if ('error' in hash) throw new Error(hash.error)
  t.ok(await verifyPassword(PASSWORD, hash), 'the password verifies')
  t.notOk(await verifyPassword(`${PASSWORD}!`, hash), 'another does not')
  t.notOk(run.stdout.includes(PASSWORD) || run.stderr.includes(PASSWORD), 'the password is never printed')

  const again = await hashPasswordCli(PASSWORD)
  t.equal(again.code, 0, 'a line without a final newline works too')
  t.not(again.stdout.trim(), text, 'a fresh salt each time')

  const twoLines = await hashPasswordCli('one\ntwo\n')
  t.equal(twoLines.code, 1)
  t.match(twoLines.stderr, /more than one line/)
  const empty = await hashPasswordCli('\n')
  t.equal(empty.code, 1)
  t.match(empty.stderr, /empty/)
  const argument = await hashPasswordCli('', ['hunter2-as-argument'])
  t.equal(argument.code, 1, 'a password as an argument is refused (shell history)')
  t.notMatch(argument.stderr, /hunter2/, 'and not repeated')
})

const HASH = await hashPassword(PASSWORD)
const VIEWER_PASSWORD = 'viewer password for tests'
const VIEWER_HASH = await hashPassword(VIEWER_PASSWORD)

const USERS = `accounts:
  - username: breakglass
    password_hash: "${HASH}"
    email: ops@example.com
    name: Break Glass
    groups: [admins]
  - username: viewer
    password_hash: "${VIEWER_HASH}"
    groups: [viewers]
`

t.test('the accounts file is checked at load: every problem at once, with file:line:col, never quoting a password', async (t) => {
  const dir = configDir(t, {
    config: `local_accounts:\n  file: ./users.yaml\n`,
    files: {
      'users.yaml': `accounts:
  - username: plain
    password: hunter2-plaintext
  - username: badhash
    password_hash: "not-a-hash-secret"
  - username: twice
    password_hash: "${HASH}"
  - username: twice
    password_hash: "${HASH}"
  - username: weak
    password_hash: "scrypt$1024$8$1$${'A'.repeat(22)}$${'A'.repeat(43)}"
`,
    },
  })
  const err = await loadConfig(dir.configFile).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.type(err, ConfigError)
  const issues = (err as ConfigError).issues
  t.equal((err as ConfigError).code, 'GH_ERR_CONFIG_INVALID')
  const at = (line: number) => issues.find((i) => i.line === line && i.file.endsWith('users.yaml'))
  t.match(at(3), { path: 'accounts[0].password', message: /plaintext passwords are not accepted.*hash-password/ }, 'plaintext, on its line')
  t.match(at(5), { path: 'accounts[1].password_hash', message: /is not a password hash/ }, 'a bad hash, on its line')
  t.match(at(8), { path: 'accounts[3].username', message: /duplicate username "twice": .*users\.yaml:6:5/ }, 'a duplicate, naming the first')
  t.match(at(11), { message: /power of two of at least 16384/ }, 'too cheap a hash')

  const check = await runCli(['check', '--config', dir.configFile])
  t.equal(check.code, 1)
  const file = shown(`${dir.dir}/users.yaml`)
  for (const where of [`${file}:3:15 accounts[0].password`, `${file}:5:20 accounts[1].password_hash`, `${file}:8:5 accounts[3].username`])
    t.ok(check.stderr.includes(where), `check prints ${where}`)
  t.notMatch(check.stderr, /hunter2|not-a-hash-secret/, 'what was written as a password is never shown')
})

t.test('a missing accounts file is refused at config.yaml:line, and the id local is reserved', async (t) => {
  const dir = configDir(t, {
    config: `idps:
  - id: local
    issuer: https://idp.example.com/
    client_id: x
    client_secret: y
local_accounts:
  file: ./nowhere.yaml
`,
  })
  const err = (await loadConfig(dir.configFile).catch((e: unknown) => e)) as ConfigError
  t.type(err, ConfigError)
  t.match(
    err.issues.find((i) => i.path === 'local_accounts.file'),
    { line: 7, col: 9, message: /cannot read \S*nowhere\.yaml: ENOENT/ },
  )
  t.match(
    err.issues.find((i) => i.path === 'idps[0].id'),
    { line: 2, message: /reserved for local accounts/ },
  )
})

interface Setup {
  gh: RunningGatehouse
  app: EchoUpstream
  metrics: Metrics
}

async function setup(t: Teardown, extra = ''): Promise<Setup> {
  const app = await upstream(t)
  const metrics = new Metrics()
  const gh = await gatehouse(
    t,
    {
      config: `session:
  secrets: [${SECRET}]
local_accounts: { file: ./users.yaml }
${extra}routes:
  - name: app
    from: ${ORIGIN}
    to: ${app.origin}
    pass_identity_headers: true
    policy:
      allow:
        and:
          - groups: { has: admins }
`,
      files: { 'users.yaml': USERS },
    },
    {},
    { metrics },
  )
  return { gh, app, metrics }
}

/** The form posted as a browser on `host` would post it. */
function postForm(port: number, fields: Record<string, string>, options: { host?: string; origin?: string; jar?: CookieJar } = {}): Promise<Reply> {
  const host = options.host ?? HOST
  const headers: Record<string, string> = {
    host,
    origin: options.origin ?? `http://${host}`,
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'text/html',
  }
  if (options.jar && options.jar.size > 0) headers.cookie = options.jar.header()
  return request(port, { method: 'POST', path: '/.gatehouse/sign_in/local', headers, body: new URLSearchParams(fields).toString() })
}

const signInAs = (s: Setup, username: string, password: string, rd = `${ORIGIN}/dashboard`) => postForm(s.gh.port, { username, password, rd })

t.test('breakglass signs in with its password and reaches the route, as the same policies judge it', async (t) => {
  const s = await setup(t)
  const page = await request(s.gh.port, {
    path: `/.gatehouse/sign_in/local?rd=${encodeURIComponent('/x?a="<b>')}`,
    headers: { host: HOST, accept: 'text/html' },
  })
  t.equal(page.status, 200)
  t.match(page.text, /<h2 id="gh-local-heading">Local account<\/h2>/)
  t.match(page.text, /<label for="gh-local-username">Username<\/label>\s*<input id="gh-local-username" name="username" autocomplete="username"/)
  t.match(page.text, /<input id="gh-local-password" name="password" type="password" autocomplete="current-password"/)
  t.ok(page.text.includes(`name="rd" value="${ORIGIN}/x?a=%22%3Cb%3E"`), 'rd is validated and escaped')
  t.equal(page.headers['x-frame-options'], 'DENY', 'the password form cannot be framed')
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)

  const answer = await signInAs(s, 'breakglass', PASSWORD)
  t.equal(answer.status, 303)
  t.equal(answer.headers.location, `${ORIGIN}/dashboard`)
  const jar = new CookieJar().absorb(answer)
  t.ok(jar.size > 0, 'a session cookie')

  const through = await browse(s.gh.port, jar, HOST, '/dashboard')
  t.equal(through.status, 200, 'the admins group lets breakglass in')
  const seen = s.app.received.at(-1)!.headers
  t.equal(seen['x-forwarded-user'], 'breakglass')
  t.equal(seen['x-forwarded-email'], 'ops@example.com')
  t.equal(seen['x-forwarded-groups'], 'admins')
  t.ok(seen['x-gatehouse-jwt-assertion'], 'with a signed assertion')

  const who = await request(s.gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie: jar.header() } })
  t.match(JSON.parse(who.text), { signed_in: true, user: 'breakglass', idp: 'local', groups: ['admins'], name: 'Break Glass' })
  t.ok(
    s.gh.logs.some((l) => l.msg === 'signed in' && l.idp === 'local' && l.user === 'breakglass'),
    'logged as signed in with idp local',
  )
  t.match(await s.metrics.registry.getSingleMetricAsString('gatehouse_sign_ins_total'), /idp="local",result="signed_in"\} 1/)
})

t.test('a local account outside the group is denied 403', async (t) => {
  const s = await setup(t)
  const answer = await signInAs(s, 'viewer', VIEWER_PASSWORD)
  t.equal(answer.status, 303)
  const denied = await browse(s.gh.port, new CookieJar().absorb(answer), HOST, '/dashboard')
  t.equal(denied.status, 403)
  t.equal(s.app.received.length, 0, 'nothing reached the upstream')
})

t.test('a wrong password and an unknown user get the same 401, never saying which was wrong', async (t) => {
  const s = await setup(t)
  const wrong = await signInAs(s, 'breakglass', 'not the password')
  const unknown = await signInAs(s, 'nobody', 'not the password')
  t.equal(wrong.status, 401)
  t.match(wrong.text, /Wrong username or password\./)
  t.equal(wrong.headers['set-cookie'], undefined, 'no session')
  t.equal(unknown.status, 401)
  t.equal(unknown.text, wrong.text, 'the same page, byte for byte')
  const json = await request(s.gh.port, {
    method: 'POST',
    path: '/.gatehouse/sign_in/local',
    headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=breakglass&password=nope',
  })
  t.equal(json.status, 401)
  t.match(JSON.parse(json.text), { error: 'GH_ERR_UNAUTHENTICATED', detail: 'Wrong username or password' })
  const logged = s.gh.logs.filter((l) => /local sign-in refused/.test(String(l.msg)))
  t.match(logged[0], { username: 'breakglass', client: '127.0.0.1' })
  t.match(logged[1], { username: 'nobody', client: '127.0.0.1' })
  t.notOk(JSON.stringify(s.gh.logs).includes('not the password'), 'the password is never logged')
})

t.test('the 6th attempt at one account is 429 even with the right password; unknown names lock the same way', async (t) => {
  const s = await setup(t)
  for (let i = 1; i <= 5; i++) t.equal((await signInAs(s, 'breakglass', `guess ${i}`)).status, 401, `failure ${i}`)
  const locked = await signInAs(s, 'breakglass', PASSWORD)
  t.equal(locked.status, 429)
  t.match(locked.text, /Too many failed sign-ins/)
  t.ok(Number(locked.headers['retry-after']) > 800, 'Retry-After says when (about 15 minutes)')
  t.equal(locked.headers['set-cookie'], undefined, 'no session')
  t.ok(s.gh.logs.some((l) => l.msg === 'local sign-in refused: too many failed attempts' && l.limit === 'account' && l.username === 'breakglass'))
  const json = await request(s.gh.port, {
    method: 'POST',
    path: '/.gatehouse/sign_in/local',
    headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: 'breakglass', password: PASSWORD }).toString(),
  })
  t.equal(json.status, 429)
  t.equal(JSON.parse(json.text).error, 'GH_ERR_TOO_MANY_SIGN_INS', 'JSON clients get the code')

  for (let i = 1; i <= 5; i++) await signInAs(s, 'nobody', `guess ${i}`)
  t.equal((await signInAs(s, 'nobody', 'guess 6')).status, 429, 'a name that does not exist locks alike')
  t.equal((await signInAs(s, 'viewer', VIEWER_PASSWORD)).status, 303, 'other accounts are unaffected')
})

t.test('a success clears the account counter', async (t) => {
  const s = await setup(t)
  for (let i = 1; i <= 4; i++) await signInAs(s, 'breakglass', `guess ${i}`)
  t.equal((await signInAs(s, 'breakglass', PASSWORD)).status, 303)
  for (let i = 1; i <= 4; i++) t.equal((await signInAs(s, 'breakglass', `again ${i}`)).status, 401)
  t.equal((await signInAs(s, 'breakglass', PASSWORD)).status, 303, 'four more failures are allowed again')
})

t.test('the 21st attempt from one address is 429, whatever the account', async (t) => {
  const s = await setup(t)
  for (let i = 1; i <= 20; i++) t.equal((await signInAs(s, `user${i}`, 'guess')).status, 401, `failure ${i}`)
  const locked = await signInAs(s, 'breakglass', PASSWORD)
  t.equal(locked.status, 429)
  t.ok(s.gh.logs.some((l) => l.limit === 'address' && l.client === '127.0.0.1'))
  t.match(await s.metrics.registry.getSingleMetricAsString('gatehouse_sign_ins_total'), /idp="local",result="rate_limited"\} 1/)
})

t.test('IPv6 clients are counted by /64', async (t) => {
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('10.1.2.3'), '10.1.2.3')
})

t.test('a form posted from another site is refused, and sets no session', async (t) => {
  const s = await setup(t)
  const answer = await postForm(s.gh.port, { username: 'breakglass', password: PASSWORD, rd: '/' }, { origin: 'https://evil.example' })
  t.equal(answer.status, 403)
  t.equal(answer.headers['set-cookie'], undefined)
  t.ok(s.gh.logs.some((l) => /posted from another site/.test(String(l.msg))))
})

t.test('rd to another site is not followed; Gatehouse endpoints neither', async (t) => {
  const s = await setup(t)
  t.equal((await signInAs(s, 'breakglass', PASSWORD, 'https://evil.example/')).headers.location, `${ORIGIN}/`)
  t.equal((await signInAs(s, 'breakglass', PASSWORD, '//evil.example/')).headers.location, `${ORIGIN}/`)
  t.equal((await signInAs(s, 'breakglass', PASSWORD, '/.gatehouse/sign_out')).headers.location, `${ORIGIN}/`)
  t.equal((await signInAs(s, 'breakglass', PASSWORD, '/reports?q=1')).headers.location, `${ORIGIN}/reports?q=1`)
})

t.test('local sessions sign out like others', async (t) => {
  const s = await setup(t)
  const jar = new CookieJar().absorb(await signInAs(s, 'breakglass', PASSWORD))
  t.equal((await browse(s.gh.port, jar, HOST, '/dashboard')).status, 200)
  const out = await browse(s.gh.port, jar, HOST, '/.gatehouse/sign_out')
  t.equal(out.status, 302)
  t.notOk(
    [...jar.keys()].some((name) => /^_gatehouse(_\d+)?$/.test(name)),
    'the session cookie is cleared',
  )
  const after = await browse(s.gh.port, jar, HOST, '/dashboard')
  t.equal(after.status, 302, 'sent to sign in again')
  t.match(after.headers.location, /\/\.gatehouse\/sign_in\?/)
  t.ok(s.gh.logs.some((l) => l.msg === 'signed out' && l.idp === 'local' && l.user === 'breakglass'))

  const again = new CookieJar().absorb(await signInAs(s, 'breakglass', PASSWORD))
  t.equal((await browse(s.gh.port, again, HOST, '/dashboard')).status, 200, 'signing in again at once works (the sign-out revoked only what came before)')
})

t.test('without local_accounts the endpoint answers 404', async (t) => {
  const app = await upstream(t)
  const gh = await gatehouse(t, `routes:\n  - from: ${ORIGIN}\n    to: ${app.origin}\n    allow_public_unauthenticated_access: true\n`)
  const get = await request(gh.port, { path: '/.gatehouse/sign_in/local', headers: { host: HOST } })
  t.equal(get.status, 404)
  const post = await postForm(gh.port, { username: 'breakglass', password: PASSWORD })
  t.equal(post.status, 404)
  t.equal(app.received.length, 0, 'never passed on to the upstream')
})

t.test('on a host no route serves there is no local sign-in', async (t) => {
  const s = await setup(t)
  const answer = await postForm(s.gh.port, { username: 'breakglass', password: PASSWORD }, { host: 'other.test' })
  t.equal(answer.status, 404)
})

t.test('with authenticate_url: local sign-in on the authenticate host, handed off to the route host', async (t) => {
  const s = await setup(t, 'authenticate_url: http://auth.test\n')
  const onRoute = await postForm(s.gh.port, { username: 'breakglass', password: PASSWORD })
  t.equal(onRoute.status, 404, 'not on a route host')
  t.match(onRoute.text, /local accounts sign in on http:\/\/auth\.test/)
  const formOnRoute = await request(s.gh.port, { path: '/.gatehouse/sign_in/local?rd=%2Fx', headers: { host: HOST, accept: 'text/html' } })
  t.equal(formOnRoute.status, 302)
  t.equal(formOnRoute.headers.location, `/.gatehouse/sign_in?idp=local&rd=${encodeURIComponent(`${ORIGIN}/x`)}`, 'through the sign-in that binds the browser')

  // The route host's sign-in binds this browser and leads to the authenticate host.
  const routeJar = new CookieJar()
  const start = await browse(s.gh.port, routeJar, HOST, `/.gatehouse/sign_in?rd=${encodeURIComponent(`${ORIGIN}/x`)}`)
  t.equal(start.status, 302)
  const central = new URL(start.headers.location as string)
  t.equal(central.host, 'auth.test')
  const hb = central.searchParams.get('hb')!

  const page = await request(s.gh.port, { path: `/.gatehouse/sign_in/local${central.search}`, headers: { host: 'auth.test', accept: 'text/html' } })
  t.equal(page.status, 200)
  t.ok(page.text.includes(`name="hb" value="${hb}"`), 'the form carries the binding')

  const noBinding = await postForm(s.gh.port, { username: 'breakglass', password: PASSWORD, rd: `${ORIGIN}/x` }, { host: 'auth.test' })
  t.equal(noBinding.status, 400, 'another host without its binding: nothing to hand over')

  const signedIn = await postForm(s.gh.port, { username: 'breakglass', password: PASSWORD, rd: `${ORIGIN}/x`, hb }, { host: 'auth.test' })
  t.equal(signedIn.status, 302)
  const handoff = new URL(signedIn.headers.location as string)
  t.equal(handoff.origin, ORIGIN)
  t.equal(handoff.pathname, '/.gatehouse/handoff')
  const landed = await browse(s.gh.port, routeJar, HOST, handoff.pathname + handoff.search)
  t.equal(landed.status, 302)
  t.equal(landed.headers.location, `${ORIGIN}/x`)
  t.equal((await browse(s.gh.port, routeJar, HOST, '/x')).status, 200, 'the route host has its session')
})

t.test('the sign-in page shows the local-account form: alone, beside an IdP, or when a route pins idp: local', async (t) => {
  const alone = await setup(t)
  const page = await request(alone.gh.port, { path: '/.gatehouse/sign_in?rd=%2Fx', headers: { host: HOST, accept: 'text/html' } })
  t.equal(page.status, 200, 'no IdP: the page, not GH_ERR_NO_IDP')
  t.match(page.text, /<h2 id="gh-local-heading">Local account<\/h2>/)
  t.match(page.text, /<label for="[^"]+">Username<\/label>/, 'labelled inputs')
  t.ok(page.text.includes(`name="rd" value="${ORIGIN}/x"`), 'the destination rides along')
  t.notMatch(page.text, /Choose how to sign in/, 'no IdP list')

  const withIdp = await setup(
    t,
    `idps:
  - id: corp
    name: Continue with Corp
    issuer: http://127.0.0.1:9/
    authorization_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
    jwks_url: http://127.0.0.1:9/jwks
    client_id: gh
    client_secret: s
`,
  )
  const both = await request(withIdp.gh.port, { path: '/.gatehouse/sign_in?rd=%2Fx', headers: { host: HOST, accept: 'text/html' } })
  t.equal(both.status, 200, 'one IdP no longer skips the page while local accounts are on')
  t.match(both.text, /Continue with Corp/)
  t.match(both.text, /Local account/)
  const onlyLocal = await request(withIdp.gh.port, { path: '/.gatehouse/sign_in?idp=local&rd=%2Fx', headers: { host: HOST, accept: 'text/html' } })
  t.match(onlyLocal.text, /Local account/)
  t.notMatch(onlyLocal.text, /Continue with Corp/, 'idp=local: the form alone')

  const pinned = await gatehouse(t, {
    config: `session:
  secrets: [${SECRET}]
local_accounts: { file: ./users.yaml }
routes:
  - from: ${ORIGIN}
    to: http://127.0.0.1:9
    idp: local
    allow_any_authenticated_user: true
`,
    files: { 'users.yaml': USERS },
  })
  const sent = await request(pinned.port, { path: '/', headers: { host: HOST, accept: 'text/html' } })
  t.equal(sent.status, 302)
  t.match(String(sent.headers.location), /\/\.gatehouse\/sign_in\?rd=.*&idp=local$/, 'a route may pin the local accounts')
})

t.test('with authenticate_url, the chooser on the authenticate host keeps the binding in every link and the form', async (t) => {
  const s = await setup(
    t,
    `authenticate_url: http://auth.test
idps:
  - id: corp
    issuer: http://127.0.0.1:9/
    authorization_url: http://127.0.0.1:9/authorize
    token_url: http://127.0.0.1:9/token
    jwks_url: http://127.0.0.1:9/jwks
    client_id: gh
    client_secret: s
`,
  )
  const start = await browse(s.gh.port, new CookieJar(), HOST, `/.gatehouse/sign_in?rd=${encodeURIComponent(`${ORIGIN}/x`)}`)
  const central = new URL(start.headers.location as string)
  const hb = central.searchParams.get('hb')!
  const chooser = await request(s.gh.port, { path: central.pathname + central.search, headers: { host: 'auth.test', accept: 'text/html' } })
  t.equal(chooser.status, 200)
  t.ok(chooser.text.includes(`hb=${hb}`), 'the IdP link carries hb')
  t.ok(chooser.text.includes(`name="hb" value="${hb}"`), 'and so does the form')
})
