// Faults Gatehouse must survive without a crash, a hang or a wrong answer: the IdP going
// away in the middle of a sign-in, the config edited into something invalid while
// requests flow, SIGTERM with many requests in flight, and a client holding a thousand
// idle connections.

import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'
import pino from 'pino'
import t from 'tap'
import { serve } from '../../src/serve.js'
import { browse, CookieJar, signIn, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { configDir, gatehouse, writeConfigDir } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'
import { upstream } from '../helpers/upstream.js'

const HOST = 'app.test'

t.test('the IdP goes away mid-sign-in: an error page, and signed-in users keep working', async (t) => {
  const p = await idp(t)
  p.registerClient({ ...TEST_CLIENT, client_id: 'faults', redirect_uris: [`http://${HOST}/oauth2/callback`] })
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `idps:
  - id: test
    issuer: ${p.issuer}
    client_id: faults
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${Buffer.alloc(32, 8).toString('base64')}]
routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
  )
  await waitReady(gh.port, HOST)
  const { jar: signedIn } = await signIn(gh.port, { host: HOST, login: (url) => p.login(url, 'alice') })
  const jar = new CookieJar()
  const start = await browse(gh.port, jar, HOST, '/.gatehouse/sign_in?rd=/')
  const back = new URL(await p.login(String(start.headers.location), 'bob'))
  await p.close() // the IdP is gone before the code can be exchanged
  const page = await browse(gh.port, jar, HOST, back.pathname + back.search)
  t.equal(page.status, 503, 'the callback answers with an error page')
  t.match(page.text, /GH_ERR_IDP_UNAVAILABLE/)
  t.match(page.text, /Try again/)
  t.equal((await request(gh.port, { path: '/', headers: { host: HOST, cookie: signedIn.header() } })).status, 200, 'existing sessions keep working')
})

t.test('a config edited into something invalid under load: no request fails, the old config stays', async (t) => {
  const app = await upstream(t)
  const routes = `routes:\n  - from: http://${HOST}\n    to: ${app.origin}\n    allow_public_unauthenticated_access: true\n`
  const dir = configDir(t, { config: 'address: 127.0.0.1:0\nlog_level: silent\n', files: { 'policies/a.yaml': routes } })
  const served = await serve(dir.configFile, { logger: pino({ level: 'silent' }), watch: true })
  t.teardown(() => served.close())
  const port = (served.app.server.address() as AddressInfo).port
  let stop = false
  const statuses = new Map<number, number>()
  const load = async () => {
    while (!stop) {
      const res = await request(port, { path: '/', headers: { host: HOST } })
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    }
  }
  const workers = Array.from({ length: 8 }, load)
  for (const broken of ['routes:\n  - from: http://x\n    to: nowhere\n', 'routes: [', `${routes}    policy: { allow: { or: [{ nonsense: 1 }] } }\n`]) {
    writeFileSync(path.join(dir.dir, 'policies/a.yaml'), broken)
    await new Promise((r) => setTimeout(r, 300))
    t.equal(await served.reload(), false, `rejected: ${JSON.stringify(broken.slice(0, 30))}`)
  }
  stop = true
  await Promise.all(workers)
  t.strictSame([...statuses.keys()], [200], `every request answered 200 (${[...statuses.values()][0]} of them)`)
})

t.test('SIGTERM with many requests in flight: they all finish, then the process exits 0', async (t) => {
  const slow = await upstream(t, (_req, res) => setTimeout(() => res.end('done'), 800))
  const dir = writeConfigDir({
    config: 'address: 127.0.0.1:0\nshutdown_timeout: 5s\n',
    files: { 'policies/a.yaml': `routes:\n  - from: http://${HOST}\n    to: ${slow.origin}\n    allow_public_unauthenticated_access: true\n` },
  })
  t.teardown(() => dir.cleanup())
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', dir.configFile], {
    cwd: path.resolve(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (c) => (output += c))
  child.stderr.on('data', (c) => (output += c))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  for (let i = 0; i < 300 && !/Server listening at http:\/\/127\.0\.0\.1:(\d+)/.test(output); i++) await new Promise((r) => setTimeout(r, 50))
  const port = Number(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1])
  const inFlight = Array.from({ length: 50 }, () => request(port, { path: '/', headers: { host: HOST } }))
  await new Promise((r) => setTimeout(r, 300))
  child.kill('SIGTERM')
  const answers = await Promise.all(inFlight)
  t.ok(
    answers.every((a) => a.status === 200 && a.text === 'done'),
    'all 50 in-flight requests finished',
  )
  t.equal(await exited, 0)
})

t.test('a client holding a thousand idle connections does not keep others out', async (t) => {
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `limits:\n  headers_timeout: 2s\nroutes:\n  - from: http://${HOST}\n    to: ${app.origin}\n    allow_public_unauthenticated_access: true\n`,
  )
  const idle: net.Socket[] = []
  t.teardown(() => idle.forEach((s) => s.destroy()))
  await Promise.all(
    Array.from(
      { length: 1000 },
      () =>
        new Promise<void>((resolve) => {
          const socket = net.connect(gh.port, '127.0.0.1', () => resolve())
          socket.on('error', () => resolve())
          idle.push(socket)
        }),
    ),
  )
  const started = Date.now()
  const res = await request(gh.port, { path: '/', headers: { host: HOST } })
  t.equal(res.status, 200, 'another client is served')
  t.ok(Date.now() - started < 1000, 'promptly')
  const closed = await Promise.race([
    Promise.all(idle.map((s) => new Promise((r) => (s.destroyed ? r(null) : s.once('close', r))))).then(() => true),
    new Promise((r) => setTimeout(() => r(false), 6000)),
  ])
  t.ok(closed, 'and the idle connections are closed once headers_timeout passes')
})
