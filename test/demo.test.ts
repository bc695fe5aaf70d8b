// `npm start`'s demo, as shipped: Gatehouse, the demo IdP and the demo upstream from the
// top-level config.yaml, signing in as the demo users. Also the log formats the demo's
// terminal shows (pretty) and collectors read (json).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { axe, chromium, firstPage, screenshot } from './helpers/chromium.js'
import { loadConfig } from '../src/config/load.js'
import { DEMO_USERS } from '../src/demo/dev-idp.js'
import { loggerOptions, prettyDestination, prettyLine } from '../src/ops/logger.js'
import { signIn } from './helpers/browser.js'
import { runCli } from './helpers/cli.js'
import { request } from './helpers/client.js'
import { configDir } from './helpers/gatehouse.js'
import { IdpBrowser } from './helpers/idp.js'
import type { Teardown } from './helpers/upstream.js'
import { websocketHandshake } from './helpers/websocket.js'

const ROOT = path.resolve(import.meta.dirname, '..')

/** `gatehouse serve` as a separate process, its stdout and stderr kept apart. */
function serveProcess(t: Teardown, configFile: string, cwd = ROOT) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['bin/gatehouse.js', 'serve', '--config', configFile], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const out = { stdout: '', stderr: '' }
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.teardown(async () => {
    child.kill('SIGTERM')
    await exited
  })
  const waitFor = async (text: string | RegExp) => {
    for (let i = 0; i < 400; i++) {
      if (typeof text === 'string' ? out.stdout.includes(text) : text.test(out.stdout)) return
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`no ${String(text)} in:\n${out.stdout}\n${out.stderr}`)
  }
  return { out, waitFor }
}

t.test('the shipped demo', async (t) => {
  const demo = serveProcess(t, 'config.yaml')
  await demo.waitFor('identity provider ready')
  const { stdout } = demo.out

  t.test('prints a banner first: the home page, the routes, the users and what they see, how to stop', async (t) => {
    const lines = stdout.split('\n')
    const firstLog = lines.findIndex((l) => /^\d\d:\d\d:\d\d\.\d{3} (INFO|WARN)/.test(l))
    const stop = lines.findIndex((l) => l === 'Stop with Ctrl+C.')
    t.ok(stop > 0 && firstLog > stop, `the banner ends before the first log line:\n${stdout}`)
    const banner = lines.slice(0, stop + 1).join('\n')
    t.equal(
      lines.find((l) => l !== ''),
      'Gatehouse demo: for trying Gatehouse out on this machine, never for production.',
    )
    t.match(banner, /^Open http:\/\/localhost:8080\/ : the demo home page \(http:\/\/127\.0\.0\.1:8080\/ works too\)\.$/m, 'the home page first')
    for (const url of [
      'http://public.localhost:8080/',
      'http://private.localhost:8080/',
      'http://admin.localhost:8080/',
      'http://private.localhost:8080/ws.html',
    ]) {
      t.ok(banner.includes(url), `names ${url}`)
    }
    for (const user of DEMO_USERS) t.ok(banner.includes(`  ${user.id} (`), `names ${user.id}`)
    // What the policies say, column by column: home public private admin dev.
    t.match(banner, /^ {2}nobody signed in +opens +opens +sign in +sign in +sign in$/m)
    t.match(banner, /^ {2}alice \(admins\) +opens +opens +opens +opens +403$/m)
    t.match(banner, /^ {2}bob \(developers\) +opens +opens +opens +403 +opens$/m)
    t.match(banner, /^ {2}dave \(developers, support\) +opens +opens +opens +403 +403$/m, 'deny wins for dave on dev')
    t.ok(banner.includes('http://127.0.0.1:8082'), 'where the demo users sign in')

    const after = lines.slice(stop + 1).join('\n')
    t.match(after, /WARN {2}demo: sessions are encrypted .* a production config sets session\.secrets/, 'the secrets warning, for a demo user')
    t.match(after, /WARN {2}demo: identity assertions .* a production config sets identity\.signing_key_file/)
    t.notOk(/^\{"level"/m.test(stdout), 'the demo logs pretty lines, not JSON')
    t.equal(demo.out.stderr, '')
  })

  t.test('the root address serves the demo home page', async (t) => {
    for (const host of ['localhost:8080', '127.0.0.1:8080']) {
      const home = await request(8080, { path: '/', headers: { host, accept: 'text/html' } })
      t.equal(home.status, 200, host)
      t.match(home.headers['content-type'], /^text\/html/)
      const html = home.text
      t.match(html, /<html lang="en">/)
      t.match(html, /<main>[\s\S]*<h1>Gatehouse demo<\/h1>[\s\S]*<\/main>/)
      for (const href of [
        '/.gatehouse/sign_in?rd=/',
        '/.gatehouse/',
        '/.gatehouse/sign_out',
        'http://private.localhost:8080/',
        'http://admin.localhost:8080/',
      ]) {
        t.ok(html.includes(`href="${href}"`), `links ${href}`)
      }
      t.ok(html.includes('href="http://private.localhost:8080/ws.html"'), 'links the websocket page')
      for (const user of DEMO_USERS) t.ok(html.includes(`<strong>${user.id}</strong>`), `lists ${user.id}`)
      t.notOk(/<script|style=|<style|https?:\/\/(?!(\w+\.)?localhost:8080|127\.0\.0\.1:808)/.test(html), 'no script, inline style or outside address')
      t.match(home.headers['content-security-policy'], /default-src 'none'/)
    }
    const css = await request(8080, { path: '/gatehouse-demo.css', headers: { host: 'localhost:8080' } })
    t.equal(css.status, 200)
    t.match(css.headers['content-type'], /^text\/css/)
  })

  const signedIn = async (host: string, user: string) =>
    (await signIn(8080, { host, login: (url) => new IdpBrowser('http://127.0.0.1:8082').login(url, user) })).jar.header()

  t.test('the policies apply as the banner says', async (t) => {
    t.equal((await request(8080, { path: '/', headers: { host: 'public.localhost:8080' } })).status, 200, 'public')
    const anon = await request(8080, { path: '/', headers: { host: 'private.localhost:8080', accept: 'text/html' } })
    t.equal(anon.status, 302, 'private sends a browser to sign in')

    const alice = await signedIn('admin.localhost:8080', 'alice')
    const adminPage = await request(8080, { path: '/', headers: { host: 'admin.localhost:8080', cookie: alice } })
    t.equal(adminPage.status, 200, 'alice (admins) opens the admin route')
    t.equal(JSON.parse(adminPage.text).headers['x-forwarded-user'], 'alice', 'the demo upstream shows who she is')

    const bob = await signedIn('admin.localhost:8080', 'bob')
    const refused = await request(8080, { path: '/', headers: { host: 'admin.localhost:8080', cookie: bob, accept: 'application/json' } })
    t.equal(refused.status, 403, 'bob is not an admin')
    const home = await signIn(8080, { host: 'localhost:8080', login: (url) => new IdpBrowser('http://127.0.0.1:8082').login(url, 'carol') })
    t.equal(home.callback.status, 302, "the home page's sign-in link works on its own host")
    t.equal(home.callback.headers.location, 'http://localhost:8080/')
    t.ok(
      [...home.jar.keys()].some((name) => name.startsWith('_gatehouse')),
      'with a session cookie there',
    )
    const dave = await signedIn('dev.localhost:8080', 'dave')
    t.equal(
      (await request(8080, { path: '/', headers: { host: 'dev.localhost:8080', cookie: dave, accept: 'application/json' } })).status,
      403,
      'dave: deny wins',
    )
  })

  t.test('the upstream verifies the assertion and shows the claims; a tampered one is not verified', async (t) => {
    const bob = await signedIn('private.localhost:8080', 'bob')
    const json = await request(8080, { path: '/claims', headers: { host: 'private.localhost:8080', cookie: bob } })
    t.equal(json.status, 200)
    const body = JSON.parse(json.text)
    t.equal(body.assertion.status, 'verified', JSON.stringify(body.assertion))
    t.match(body.assertion.claims, { user: 'bob', email: 'bob@example.com', groups: ['developers'], aud: 'private.localhost', iss: 'private.localhost' })

    const page = await request(8080, { path: '/claims', headers: { host: 'private.localhost:8080', cookie: bob, accept: 'text/html' } })
    t.equal(page.status, 200)
    t.match(page.text, /<p class="verified"><strong>Verified\.<\/strong>/)
    t.match(page.text, /<caption>Verified claims<\/caption>[\s\S]*<th scope="row">user<\/th><td class="value">bob<\/td>/)
    t.match(page.text, /<caption>Identity headers<\/caption>[\s\S]*x-gatehouse-jwt-assertion[\s\S]*x-forwarded-user<\/th><td class="value">bob</)
    t.match(page.text, /<caption>Other headers<\/caption>[\s\S]*x-forwarded-host/)
    t.notOk(/<caption>Other headers<\/caption>[\s\S]*x-forwarded-user/.test(page.text), 'identity headers are listed apart')

    // Someone who got hold of bob's assertion makes himself alice: same signature, new payload.
    const token: string = body.headers['x-gatehouse-jwt-assertion']
    const [header, payload, signature] = token.split('.')
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, user: 'alice', groups: ['admins'] })).toString('base64url')}.${signature}`
    const direct = (accept: string) =>
      request(8081, { path: '/', headers: { 'x-gatehouse-jwt-assertion': forged, 'x-forwarded-host': 'private.localhost:8080', accept } })
    const tampered = JSON.parse((await direct('application/json')).text)
    t.equal(tampered.assertion.status, 'not verified')
    t.match(tampered.assertion.reason, /signature does not match/)
    const tamperedPage = (await direct('text/html')).text
    t.match(tamperedPage, /<p class="unverified"><strong>Not verified:<\/strong> the signature does not match/)
    t.match(tamperedPage, /NOT verified: do not trust it/)

    const elsewhere = JSON.parse(
      (await request(8081, { path: '/', headers: { 'x-gatehouse-jwt-assertion': token, 'x-forwarded-host': 'admin.localhost:8080' } })).text,
    )
    t.equal(elsewhere.assertion.status, 'not verified', 'an assertion issued for another host is refused')
    t.match(elsewhere.assertion.reason, /claim/)
  })

  t.test('the websocket echo works through Gatehouse, and says who it is for', async (t) => {
    const carol = await signedIn('private.localhost:8080', 'carol')
    const refused = await websocketHandshake(8080, { host: 'private.localhost:8080', path: '/ws' })
    t.equal(refused.status, 401, 'not without a session')
    const open = await websocketHandshake(8080, { host: 'private.localhost:8080', path: '/ws', cookie: carol })
    t.equal(open.status, 101)
    const ws = open.ws!
    const { messages } = open
    const arrived = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (messages.length >= n ? resolve() : setTimeout(check, 10))
        check()
      })
    await arrived(1)
    ws.send('hello through Gatehouse')
    await arrived(2)
    t.strictSame(messages, ['connected through Gatehouse as carol (assertion verified)', 'echo: hello through Gatehouse'])
    ws.close()
    await open.closed

    const page = await request(8080, { path: '/ws.html', headers: { host: 'private.localhost:8080', cookie: carol, accept: 'text/html' } })
    t.equal(page.status, 200)
    t.match(page.text, /<script src="gatehouse-demo-ws\.js"><\/script>/)
    t.notOk(/<script>|<script [^>]*>[^<]/.test(page.text), 'no inline script')
    const script = await request(8080, { path: '/gatehouse-demo-ws.js', headers: { host: 'private.localhost:8080', cookie: carol } })
    t.equal(script.status, 200)
    t.match(script.headers['content-type'], /^text\/javascript/)
  })

  t.test('in Chromium: home page, sign-in, the verified page and the websocket echo under the CSP', async (t) => {
    const page = await firstPage(await chromium(t))
    // What the CSP refuses shows as console errors; a failed load as a response >= 400.
    const problems: string[] = []
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(m.text()))
    page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && problems.push(`${r.status()} ${r.url()}`))
    const serious = async () => (await axe(page)).map((v) => v.id)

    await page.goto('http://localhost:8080/')
    t.equal(await page.locator('h1').textContent(), 'Gatehouse demo')
    await screenshot(page, 'demo-home')
    t.strictSame(await serious(), [], 'home page: no serious accessibility problems (contrast included)')

    await page.goto('http://private.localhost:8080/ws.html')
    await page.click('button[name="account"][value="bob"]')
    await page.waitForURL('http://private.localhost:8080/ws.html')
    await page.locator('#log li', { hasText: 'connected through Gatehouse as bob (assertion verified)' }).waitFor()
    await page.fill('#message', 'hi there')
    await page.click('button[type="submit"]')
    await page.locator('#log li', { hasText: 'received: echo: hi there' }).waitFor()
    t.match(await page.locator('#status').textContent(), /^Connected to ws:\/\/private\.localhost:8080\/ws$/)
    await screenshot(page, 'demo-websocket')
    t.strictSame(await serious(), [], 'websocket page')

    await page.goto('http://private.localhost:8080/')
    t.match(await page.locator('p.verified').textContent(), /^Verified\./)
    await screenshot(page, 'demo-app')
    t.strictSame(await serious(), [], 'the request page')
    t.strictSame(problems, [], 'nothing refused by the CSP, nothing missing')
  })

  t.test('the demo policy tests cover every route and pass', async (t) => {
    const run = await runCli(['test', '--config', 'config.yaml'])
    t.equal(run.code, 0, 'gatehouse test --config config.yaml exits 0')
    t.match(run.stdout, /^\d+ passed, 0 failed$/m)
    t.notMatch(run.stdout, /^FAIL/m)
    const config = await loadConfig(path.join(ROOT, 'config.yaml'))
    const tested = new Map<string, string>()
    for (const line of run.stdout.split('\n')) {
      const m = /^PASS (policies\/[\w.-]+\.test\.yaml):\d+:\d+ "[^"]*": (\w+)/.exec(line)
      if (!m) continue
      const route = /^route: (\S+)$/m.exec(readFileSync(path.join(ROOT, m[1]), 'utf8'))![1]
      tested.set(route, `${tested.get(route) ?? ''} ${m[2]}`)
    }
    for (const route of config.routes) {
      t.ok(tested.has(route.id), `${route.id} has policy tests`)
      const verdicts = tested.get(route.id) ?? ''
      const needsUser = /sign_in/.test(verdicts)
      if (route.id.startsWith('demo-home') || route.id === 'demo-public') t.notOk(needsUser, `${route.id} is public`)
      else t.ok(needsUser, `${route.id}: a case without a session asks to sign in`)
    }
    for (const route of ['demo-admin', 'demo-dev']) t.match(tested.get(route), /deny/, `${route} has denials`)
  })
})

t.test('log_format pretty: one line per event, time level message then key=value', async (t) => {
  const time = new Date(2026, 0, 5, 9, 14, 3, 120).getTime()
  const line = JSON.stringify({
    level: 30,
    time,
    pid: 1,
    hostname: 'h',
    request_id: 'r-1',
    idp: 'demo',
    user: 'alice',
    groups: ['admins', 'support'],
    err: { code: 'E', message: 'a b' },
    empty: '',
    msg: 'signed in',
  })
  t.equal(prettyLine(line), '09:14:03.120 INFO  signed in idp=demo user=alice groups=admins,support err.code=E err.message="a b" empty="" request_id=r-1')
  t.equal(prettyLine(JSON.stringify({ level: 40, time, msg: 'careful', odd: ['a b'], n: 3, ok: false })), '09:14:03.120 WARN  careful odd=["a b"] n=3 ok=false')
  t.equal(prettyLine('not json\n'), 'not json', 'anything else is kept as it is')
  t.equal(
    prettyLine(JSON.stringify({ level: 40, time, idp: 'corp', err: { type: 'Object', message: 'fetch failed', stack: '' }, msg: 'not reachable' })),
    '09:14:03.120 WARN  not reachable idp=corp err.message="fetch failed"',
    "pino's dressing of a plain error object is left out",
  )
  t.equal(prettyLine(JSON.stringify({ level: 50, time, msg: 'x' }), { color: true }), '09:14:03.120 \x1b[31mERROR\x1b[0m x')

  const written: string[] = []
  prettyDestination({ write: (s) => written.push(s) }).write(`${line}\n`)
  t.equal(written.length, 1)
  t.match(written[0], /^09:14:03\.120 INFO  signed in .*\n$/)

  t.strictSame(loggerOptions({ logLevel: 'debug', logFormat: 'json' }), { level: 'debug' }, "json is fastify's own logger, unchanged")
})

t.test('serve writes json lines by default and pretty lines with log_format: pretty', async (t) => {
  for (const format of ['json', 'pretty', undefined] as const) {
    const dir = configDir(t, { config: `address: 127.0.0.1:0\n${format ? `log_format: ${format}\n` : ''}` })
    const served = serveProcess(t, dir.configFile)
    await served.waitFor('Server listening')
    const first = served.out.stdout.split('\n')[0]
    if (format === 'pretty') {
      t.match(first, /^\d\d:\d\d:\d\d\.\d{3} INFO  Server listening at http:\/\/127\.0\.0\.1:\d+$/)
    } else {
      const entry = JSON.parse(first)
      t.strictSame(Object.keys(entry), ['level', 'time', 'pid', 'hostname', 'msg'], `${format ?? 'default'}: pino's own JSON line`)
      t.match(entry, { level: 30, pid: Number, msg: /^Server listening at http:\/\/127\.0\.0\.1:\d+$/ })
    }
  }
})
