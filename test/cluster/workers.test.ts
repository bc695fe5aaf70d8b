// `workers: 2`: `gatehouse serve` as a real process tree, a primary and two workers sharing
// one port. Any worker serves any session; a sign-in handed from the authenticate host to
// a route host works whichever worker takes each step; a sign-out on one ends the session
// on both, websockets included; a refresh on one serves the other, and a back-channel
// logout reaching one ends the session on both; failed local-account sign-ins count
// once; the ephemeral secrets and signing key are the run's, not a
// worker's; SIGHUP reloads every worker; /metrics sums them; a killed worker is replaced;
// SIGTERM stops the whole tree with exit code 0; and a start that cannot listen fails once.

import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { hashPassword } from '../../src/auth/local-accounts.js'
import { ACCOUNT_FAILURES } from '../../src/auth/sign-in-limits.js'
import { Browser, followSignIn } from '../helpers/browser.js'
import { ROOT, runCli } from '../helpers/cli.js'
import { request } from '../helpers/client.js'
import { configDir } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'
import { upstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'

const AUTH = 'auth.test'
const APP = 'app.test'
const PUBLIC = 'public.test'

/** A running `gatehouse serve`: its JSON log lines as they come, and its exit. */
class Served {
  readonly lines: Record<string, unknown>[] = []
  stderr = ''
  readonly exited: Promise<number | null>
  private buffered = ''

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffered += chunk
      const parts = this.buffered.split('\n')
      this.buffered = parts.pop()!
      for (const line of parts) if (line.startsWith('{')) this.lines.push(JSON.parse(line))
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  }

  async waitFor(match: (line: Record<string, unknown>) => boolean, ms = 20_000): Promise<Record<string, unknown>> {
    const until = Date.now() + ms
    for (;;) {
      const found = this.lines.find(match)
      if (found) return found
      if (Date.now() > until) throw new Error(`no such log line after ${ms} ms; stderr: ${this.stderr.slice(0, 2000)}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  /** The port the workers share, once the primary says they all listen. */
  async port(): Promise<number> {
    await this.waitFor((l) => l.msg === 'Gatehouse is listening with its workers')
    const listening = await this.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'))
    return Number(/:(\d+)$/.exec(listening.msg as string)![1])
  }

  /** Process ids of the workers that served the requests with these paths. */
  servedBy(paths: readonly string[]): Set<number> {
    return new Set(this.lines.filter((l) => l.msg === 'request' && paths.includes(l.path as string)).map((l) => l.pid as number))
  }

  workerPids(): Set<number> {
    return new Set(this.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at')).map((l) => l.pid as number))
  }
}

function serve(t: Test, configFile: string): Served {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const served = new Served(child)
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await Promise.race([served.exited, new Promise((r) => setTimeout(r, 8000))])
    child.kill('SIGKILL')
  })
  return served
}

async function setup(t: Test, extra = '') {
  const p = await idp(t)
  p.registerClient({ ...TEST_CLIENT, client_id: 'workers', redirect_uris: [`http://${AUTH}/oauth2/callback`] })
  const app = await upstream(t, { websockets: true })
  // No session.secrets and no signing key: the run's ephemeral ones must be shared.
  const config = `address: 127.0.0.1:0
log_format: json
workers: 2
authenticate_url: http://${AUTH}
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: workers
    client_secret: ${TEST_CLIENT.client_secret}
${extra}`
  const routes = (more = '') => `routes:
  - from: http://${APP}
    to: ${app.origin}
    allow_websockets: true
    allow_any_authenticated_user: true
  - from: http://${PUBLIC}
    to: ${app.origin}
    allow_public_unauthenticated_access: true
${more}`
  const dir = configDir(t, { config, files: { 'policies/routes.yaml': routes() } })
  const served = serve(t, dir.configFile)
  const port = await served.port()
  return { p, app, dir, served, port, routes }
}

let probes = 0
/** GETs on fresh connections (new connections go to the workers in turn); returns the
 *  statuses and the paths used, to find in the access log which worker served each. */
async function probe(port: number, host: string, count: number, cookie = ''): Promise<{ statuses: number[]; paths: string[] }> {
  const paths = Array.from({ length: count }, () => `/probe-${++probes}`)
  const statuses: number[] = []
  for (const p of paths) statuses.push((await request(port, { path: p, headers: { host, cookie, accept: 'application/json' } })).status)
  return { statuses, paths }
}

async function settle(served: Served, paths: string[]): Promise<Set<number>> {
  // Access lines are written when each answer ends; give the pipes a moment.
  const until = Date.now() + 3000
  while (Date.now() < until && served.lines.filter((l) => l.msg === 'request' && paths.includes(l.path as string)).length < paths.length) {
    await new Promise((r) => setTimeout(r, 25))
  }
  return served.servedBy(paths)
}

t.test('two workers serve one run: sessions, handoffs, sign-out and keys hold across both', async (t) => {
  const { p, served, port } = await setup(t)
  t.equal(served.workerPids().size, 2, 'two workers listen on the one port')

  // Two sign-ins, each through the authenticate host and a handoff: the steps land on
  // alternating workers, so the one-time handoff code is redeemed on the other worker.
  for (const user of ['alice', 'bob']) {
    const browser = new Browser()
    const signedIn = await followSignIn(port, (url) => p.login(url, user), browser, `http://${APP}/start`, new URL(p.issuer).origin)
    t.equal(signedIn.final.href, `http://${APP}/start`, `${user} is back where they started`)
    t.ok(
      signedIn.hops.some((h) => h.host === APP && h.pathname === '/.gatehouse/handoff'),
      'through the handoff',
    )
    const cookie = browser.jar(APP).header()
    const seen = await probe(port, APP, 6, cookie)
    t.same(seen.statuses, [200, 200, 200, 200, 200, 200], `${user}'s session opens on every worker`)
    t.equal((await settle(served, seen.paths)).size, 2, 'both workers served it')

    if (user === 'alice') {
      // One signing key for the run: an assertion from any worker verifies with the JWKS
      // from any worker.
      const keys = new Set<string>()
      for (let i = 0; i < 4; i++) keys.add((await request(port, { path: '/.well-known/gatehouse/jwks.json', headers: { host: APP } })).text)
      t.equal(keys.size, 1, 'every worker publishes the same key')
      const jwks = createLocalJWKSet(JSON.parse([...keys][0]))
      for (let i = 0; i < 2; i++) {
        const res = await request(port, { path: '/', headers: { host: APP, cookie } })
        const assertion = (JSON.parse(res.text).headers as Record<string, string>)['x-gatehouse-jwt-assertion']
        const { payload } = await jwtVerify(assertion, jwks, { audience: APP })
        t.equal(payload.sub, 'alice', 'the assertion verifies')
      }
      continue
    }

    // bob signs out on one worker; his copied cookie then opens nothing on either, and
    // his websocket, open on whichever worker took it, closes.
    const tunnel = await websocketHandshake(port, { host: APP, cookie })
    t.equal(tunnel.status, 101, 'a websocket through the session')
    const out = await request(port, { path: '/.gatehouse/sign_out', headers: { host: APP, cookie } })
    t.equal(out.status, 302, 'signed out')
    const closed = await Promise.race([tunnel.closed!.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))])
    t.ok(closed, 'the websocket closed with the sign-out')
    const after = await probe(port, APP, 6, cookie)
    t.same(after.statuses, [401, 401, 401, 401, 401, 401], 'the copied cookie is refused on every worker')
    t.equal((await settle(served, after.paths)).size, 2, 'both workers refused it')
  }
})

t.test('SIGHUP reloads every worker; /metrics sums them; a killed worker is replaced; SIGTERM stops all', async (t) => {
  const metricsPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
  const { app, dir, served, port, routes } = await setup(t, `metrics_address: 127.0.0.1:${metricsPort}\n`)

  const before = await probe(port, PUBLIC, 8)
  t.same(new Set(before.statuses), new Set([200]), 'the public route answers')
  const metrics = await request(metricsPort, { path: '/metrics' })
  t.equal(metrics.status, 200)
  const counted = /gatehouse_requests_total\{route="http:\/\/public\.test",code="200"\} (\d+)/.exec(metrics.text)
  t.equal(Number(counted?.[1]), 8, 'the requests of both workers, summed')
  t.match(metrics.text, /gatehouse_upstream_healthy\{route="http:\/\/public\.test",upstream="[^"]+"\} 1\n/, 'a health gauge is not summed')

  writeFileSync(
    path.join(dir.dir, 'policies/routes.yaml'),
    routes(`  - from: http://new.test\n    to: ${app.origin}\n    allow_public_unauthenticated_access: true\n`),
  )
  served.child.kill('SIGHUP')
  await served.waitFor((l) => l.msg === 'configuration reloaded')
  await new Promise((r) => setTimeout(r, 500))
  const added = await probe(port, 'new.test', 6)
  t.same(added.statuses, [200, 200, 200, 200, 200, 200], 'the new route is served by every worker')
  t.equal((await settle(served, added.paths)).size, 2, 'both workers have it')
  const reloads = served.lines.filter((l) => l.msg === 'configuration reloaded')
  t.ok(reloads.length >= 1, 'reloaded (by the file watcher, SIGHUP, or both)')
  t.notOk(
    reloads.some((l) => served.workerPids().has(l.pid as number)),
    'each reload is logged by the primary alone, not once per worker',
  )

  const [victim] = served.workerPids()
  process.kill(victim!, 'SIGKILL')
  await served.waitFor((l) => l.msg === 'a worker stopped unexpectedly; starting another')
  await served.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at') && l.pid !== victim && served.workerPids().size === 3)
  const replaced = await probe(port, PUBLIC, 6)
  t.same(replaced.statuses, [200, 200, 200, 200, 200, 200], 'still served after a worker died')
  const servers = await settle(served, replaced.paths)
  t.equal(servers.size, 2, 'by two workers again')
  t.notOk(servers.has(victim!), 'neither of them the dead one')

  served.child.kill('SIGTERM')
  t.equal(await served.exited, 0, 'the primary exits 0 once the workers drained')
  for (const pid of served.workerPids()) t.throws(() => process.kill(pid, 0), 'no worker is left running')
  await t.rejects(request(port, { path: '/', headers: { host: PUBLIC } }), 'the port is closed')
})

t.test('a refresh on one worker serves the other: one refresh at the IdP, however the requests spread', async (t) => {
  // Two-second access tokens are renewed after one second; the IdP rotates refresh
  // tokens, so a second refresh with the old one would fail and end the session.
  const p = await idp(t, { accessTokenTtl: 2, backchannelLogout: true })
  const app = await upstream(t)
  const dir = configDir(t, {
    config: `address: 127.0.0.1:0
log_format: json
workers: 2
idps:
  - id: test
    issuer: ${p.issuer}
    client_id: workers-refresh
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups, offline_access]
routes:
  - from: http://${APP}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
  })
  const served = serve(t, dir.configFile)
  const port = await served.port()
  await p.registerClient({
    ...TEST_CLIENT,
    client_id: 'workers-refresh',
    redirect_uris: [`http://${APP}/oauth2/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    post_logout_redirect_uris: [`http://${APP}/`],
    backchannel_logout_uri: `http://127.0.0.1:${port}/.gatehouse/backchannel_logout?idp=test`,
    backchannel_logout_session_required: true,
  })
  const refreshes = () => p.calls.filter((c) => c.route === 'token' && c.grantType === 'refresh_token').length

  const alice = p.browser()
  const browser = new Browser()
  const signedIn = await followSignIn(port, (url) => alice.login(url, 'alice'), browser, `http://${APP}/.gatehouse/sign_in?rd=/`, new URL(p.issuer).origin)
  t.equal(signedIn.final.href, `http://${APP}/`, 'signed in')
  const cookie = browser.jar(APP).header()
  await new Promise((r) => setTimeout(r, 1100))
  const before = refreshes()
  // At once, on fresh connections: both workers see the expiring session together.
  const paths = Array.from({ length: 8 }, () => `/probe-${++probes}`)
  const statuses = await Promise.all(
    paths.map(async (path) => (await request(port, { path, headers: { host: APP, cookie, accept: 'application/json' } })).status),
  )
  t.same(statuses, Array(8).fill(200), 'every request is served, none refused after a second refresh failed')
  t.equal(refreshes() - before, 1, 'the IdP saw one refresh')
  t.equal((await settle(served, paths)).size, 2, 'both workers served the expiring session')

  // Signing out at the IdP: its logout token reaches one worker; the session ends on both.
  const end = new URL(p.endpoints.endSession!)
  end.search = new URLSearchParams({ client_id: 'workers-refresh', post_logout_redirect_uri: `http://${APP}/` }).toString()
  await alice.logout(end.href)
  await served.waitFor((l) => l.msg === 'back-channel logout', 5000)
  const after = await probe(port, APP, 6, cookie)
  t.same(after.statuses, Array(6).fill(401), 'the session is over on every worker')
  t.equal((await settle(served, after.paths)).size, 2, 'both workers refused it')

  // A logout token is honoured once for the run: replayed on the other worker, refused.
  const key = p.signingKeys.find((k) => k.alg === 'RS256')!
  const token = await new SignJWT({
    iss: p.issuer,
    aud: 'workers-refresh',
    iat: Math.floor(Date.now() / 1000),
    jti: randomBytes(8).toString('hex'),
    sub: 'bob',
    events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
  })
    .setProtectedHeader({ alg: 'RS256', kid: String(key.kid), typ: 'logout+jwt' })
    .sign(await importJWK(key as never, 'RS256'))
  const post = () =>
    request(port, {
      method: 'POST',
      path: '/.gatehouse/backchannel_logout?idp=test',
      headers: { host: '127.0.0.1', 'content-type': 'application/x-www-form-urlencoded' },
      body: `logout_token=${encodeURIComponent(token)}`,
    })
  t.equal((await post()).status, 200, 'a fresh logout token is accepted')
  const replayed = await post()
  t.equal(replayed.status, 400, 'the same token again is refused')
  t.equal(JSON.parse(replayed.text).error, 'GH_ERR_LOGOUT_TOKEN')
  const refused = await served.waitFor((l) => l.msg === 'back-channel logout refused')
  const accepted = served.lines.filter((l) => l.msg === 'back-channel logout' && l.sub === 'bob')
  t.equal(accepted.length, 1, 'accepted once')
  t.not(accepted[0]?.pid, refused.pid, 'and refused by the other worker')
})

t.test('failed local-account sign-ins are counted once for the run, not per worker', async (t) => {
  const app = await upstream(t)
  const hash = await hashPassword('a long break-glass password')
  const dir = configDir(t, {
    config: `address: 127.0.0.1:0
log_format: json
workers: 2
local_accounts: { file: ./users.yaml }
routes:
  - from: http://${APP}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
    files: { 'users.yaml': `accounts:\n  - username: breakglass\n    password_hash: "${hash}"\n` },
  })
  const served = serve(t, dir.configFile)
  const port = await served.port()
  const post = (password: string) =>
    request(port, {
      method: 'POST',
      path: '/.gatehouse/sign_in/local',
      headers: { host: APP, origin: `http://${APP}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ username: 'breakglass', password, rd: '/' }).toString(),
    })
  const statuses: number[] = []
  for (let i = 0; i < ACCOUNT_FAILURES; i++) statuses.push((await post(`wrong ${i}`)).status)
  t.same(new Set(statuses), new Set([401]), `${ACCOUNT_FAILURES} wrong passwords are refused`)
  const locked = await post('a long break-glass password')
  t.equal(locked.status, 429, 'then the account is locked, even for the right password')
  t.equal(JSON.parse(locked.text).error, 'GH_ERR_TOO_MANY_SIGN_INS')
  await served.waitFor((l) => l.msg === 'local sign-in refused: too many failed attempts')
  const refusedBy = new Set(served.lines.filter((l) => l.msg === 'local sign-in refused: wrong username or password').map((l) => l.pid))
  t.equal(refusedBy.size, 2, 'the wrong passwords were checked by both workers, and counted together')
})

t.test('a run whose workers cannot listen fails once, clearly, and leaves nothing running', async (t) => {
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => blocker.close())
  const taken = (blocker.address() as net.AddressInfo).port
  const dir = configDir(t, {
    config: `address: 127.0.0.1:${taken}\nworkers: 2\nroutes:\n  - from: http://x.test\n    to: http://127.0.0.1:9\n    allow_public_unauthenticated_access: true\n`,
  })
  const run = await runCli(['serve', '--config', dir.configFile])
  t.equal(run.code, 1, 'exit code 1')
  const said = run.stderr.split('\n').filter((line) => line.includes('cannot listen on'))
  t.equal(said.length, 1, 'said once, not once per worker')
  t.match(said[0], /another process already listens there/)
})

t.test('workers: bad values are refused by check with the line; auto is one per core; the demo ignores it', async (t) => {
  for (const [value, why] of [
    ['0', /workers: must be auto or a whole number from 1 to 256/],
    ['-2', /workers: must be auto or a whole number from 1 to 256/],
    ['1.5', /workers: must be auto or a whole number from 1 to 256/],
    ['many', /workers: must be auto or a whole number from 1 to 256/],
    ['257', /workers: must be auto or a whole number from 1 to 256/],
  ] as const) {
    const dir = configDir(t, { config: `workers: ${value}\nroutes: []\n` })
    const run = await runCli(['check', '--config', dir.configFile])
    t.equal(run.code, 1, `workers: ${value} is refused`)
    t.match(run.stderr, /config\.yaml:1:10/, 'with its line and column')
    t.match(run.stderr, why)
  }
  const auto = configDir(t, { config: `workers: auto\nroutes: []\n` })
  const ok = await runCli(['check', '--config', auto.configFile])
  t.equal(ok.code, 0, 'auto is accepted')
  const demo = configDir(t, { config: `workers: 2\ndemo: {}\n` })
  const warned = await runCli(['check', '--config', demo.configFile])
  t.match(warned.stderr, /warning: .*workers: the demo runs in one process/, 'the demo says it ignores workers')
})
