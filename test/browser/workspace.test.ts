// A real remote desktop behind Gatehouse, the way Kasm-style workspaces are used: an X
// server with a VNC head (Xvnc) showing an X app, websockify turning its RFB port into a
// websocket, noVNC's web client served by websockify, and Gatehouse in front with a policy
// that lets admins only. Chromium signs in and must see the desktop; a user the policy
// denies must never reach websockify, neither the page nor the websocket.

import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { axe, chromium, describeViolations, firstPage, gatehouseOnPort, screenshot } from '../helpers/chromium.js'
import { waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'
import { closedPort, type Teardown } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'

const NOVNC = '/usr/share/novnc'
/** util-linux, on every Debian system. */
const SETPRIV = '/usr/bin/setpriv'
const SECRET = randomBytes(32).toString('base64')

for (const tool of ['/usr/bin/Xvnc', '/usr/bin/websockify', '/usr/bin/xclock', `${NOVNC}/vnc.html`]) {
  if (!existsSync(tool)) throw new Error(`${tool} is missing: scripts/ensure-system.sh installs the VNC server, websockify, x11-apps and noVNC`)
}

// ---------------------------------------------------------------------------------
// Child processes. Each runs in a process group of its own, so websockify's per-connection
// workers go with it; every group is ended at teardown, and again if this process exits
// without running teardown. tap ends a test that runs out of time with SIGALRM and then
// SIGKILL, which no handler sees: setpriv --pdeathsig has the kernel send each child SIGTERM
// when this process dies, however it dies, so no X server outlives a failed run. SIGTERM,
// not SIGKILL, so that Xvnc removes its lock file and socket on the way out.

const groups = new Set<number>()
const killAll = () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  groups.clear()
}
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM'] as const) {
  process.once(signal, () => {
    killAll()
    // With no other listener, the default action (exit) would have been ours to take.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  })
}

interface Service {
  child: ChildProcess
  /** stdout and stderr, interleaved as they arrived. */
  output(): string
  exited: Promise<number | null>
}

function service(t: Teardown, command: string, args: string[], env: NodeJS.ProcessEnv): Service {
  const [file, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args]
  const child = spawn(file, argv, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  child.stdout!.on('data', (d: Buffer) => (text += d))
  child.stderr!.on('data', (d: Buffer) => (text += d))
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code))
    child.once('error', (err) => {
      text += `\n${err.message}`
      resolve(-1)
    })
  })
  const pgid = child.pid
  if (pgid !== undefined) groups.add(pgid)
  t.teardown(async () => {
    if (pgid === undefined || !groups.has(pgid)) return
    groups.delete(pgid)
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-pgid, s)
      } catch {
        // already gone
      }
    }
    signal('SIGTERM')
    const timer = setTimeout(() => signal('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
    signal('SIGKILL') // workers left in the group
  })
  return { child, output: () => text, exited }
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000, explain: () => string = () => ''): Promise<void> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`gave up waiting for ${what} after ${ms} ms. ${explain()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

/** A display number no X server on this machine uses (no socket, no lock file). */
function freeDisplay(): number {
  const start = 40 + Math.floor(Math.random() * 50)
  for (let i = 0; i < 50; i++) {
    const n = 40 + ((start - 40 + i) % 50)
    if (!existsSync(`/tmp/.X11-unix/X${n}`) && !existsSync(`/tmp/.X${n}-lock`)) return n
  }
  throw new Error('no free X display between :40 and :89')
}

interface Desktop {
  /** websockify's port (serves noVNC and the /websockify websocket). */
  port: number
  websockify: Service
  display: number
}

/** Xvnc with xclock on it, and websockify serving noVNC in front of its RFB port. */
async function desktop(t: Teardown): Promise<Desktop> {
  // Xvnc and the X apps write to $HOME (~/.vnc, ~/.Xauthority): a throwaway one.
  const home = mkdtempSync(path.join(tmpdir(), 'gatehouse-desk-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const env = { PATH: process.env.PATH, HOME: home, PYTHONUNBUFFERED: '1', LANG: 'C.UTF-8' }

  const display = freeDisplay()
  const rfbPort = await closedPort()
  const xvnc = service(
    t,
    'Xvnc',
    [`:${display}`, '-rfbport', String(rfbPort), '-localhost', '-SecurityTypes', 'None', '-geometry', '800x600', '-depth', '24', '-desktop', 'gatehouse-desk'],
    env,
  )
  let xvncGone = false
  void xvnc.exited.then(() => (xvncGone = true))
  await waitFor(
    `Xvnc on :${display} (RFB port ${rfbPort})`,
    async () => {
      if (xvncGone) throw new Error(`Xvnc exited: ${xvnc.output()}`)
      return existsSync(`/tmp/.X11-unix/X${display}`) && (await accepts(rfbPort))
    },
    10_000,
    xvnc.output,
  )

  // A window with a face and hands on the desktop: something for the pixels to show.
  service(t, 'xclock', ['-display', `:${display}`, '-geometry', '360x360+220+120', '-update', '1'], env)

  const port = await closedPort()
  const websockify = service(t, 'websockify', ['--web', NOVNC, `127.0.0.1:${port}`, `127.0.0.1:${rfbPort}`], env)
  await waitFor('websockify', () => accepts(port), 10_000, websockify.output)
  return { port, websockify, display }
}

/** websockify logs one "WebSocket connection" line per websocket it accepts and one
 *  "connecting to:" line per connection it opens to the VNC server. */
const websocketsSeen = (output: string) => (output.match(/WebSocket connection/g) ?? []).length
const vncConnections = (output: string) => (output.match(/connecting to: /g) ?? []).length

t.test('a noVNC workspace behind Gatehouse: admins get the desktop, others never reach websockify', async (t) => {
  const started = Date.now()
  const desk = await desktop(t)
  const provider = await idp(t)
  const gh = await gatehouseOnPort(
    t,
    (port) => `
idps:
  - id: test
    name: Test IdP
    issuer: ${provider.issuer}
    client_id: gatehouse-desk
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups]
session:
  secrets: [${SECRET}]
routes:
  - name: desk
    from: http://desk.localhost:${port}
    to: http://127.0.0.1:${desk.port}
    allow_websockets: true
    policy:
      allow:
        or:
          - groups: { has: admins }
`,
  )
  const origin = `http://desk.localhost:${gh.port}`
  await provider.registerClient({ ...TEST_CLIENT, client_id: 'gatehouse-desk', redirect_uris: [`${origin}/oauth2/callback`] })
  await waitReady(gh.port, `desk.localhost:${gh.port}`)
  const idpOrigin = new URL(provider.issuer).origin
  const workspace = `${origin}/vnc.html?autoconnect=1`

  await t.test('alice (admins) signs in and sees the desktop', async (t) => {
    const browser = await chromium(t)
    const page = await firstPage(browser)
    await page.goto(workspace)
    t.equal(new URL(page.url()).origin, idpOrigin, 'sent to the IdP to sign in')
    await screenshot(page, 'workspace-idp-login')

    await page.click('button[data-user="alice"]')
    await page.waitForURL(workspace)
    t.pass('back at the workspace after signing in')

    await page.waitForSelector('html.noVNC_connected', { state: 'attached' })
    t.match(await page.textContent('#noVNC_status'), /^Connected \(unencrypted\) to gatehouse-desk/, "noVNC's status: connected")

    // The first framebuffer update may land a moment after the connected state.
    const canvas = await page.waitForFunction(() => {
      const c = document.querySelector<HTMLCanvasElement>('#noVNC_container canvas')
      const ctx = c?.getContext('2d')
      if (!c || !ctx || c.width === 0) return false
      const { data } = ctx.getImageData(0, 0, c.width, c.height)
      const colours = new Set<number>()
      for (let i = 0; i < data.length; i += 4 * 5) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2])
      return colours.size > 1 && { width: c.width, height: c.height, colours: colours.size }
    })
    const seen = (await canvas.jsonValue()) as { width: number; height: number; colours: number }
    t.same({ width: seen.width, height: seen.height }, { width: 800, height: 600 }, "the canvas is the X server's 800x600 screen")
    t.ok(seen.colours > 1, `the canvas shows the desktop, not a blank screen (${seen.colours} colours sampled)`)
    await screenshot(page, 'workspace-alice-connected')

    t.equal(websocketsSeen(desk.websockify.output()), 1, "websockify took alice's websocket")
    t.equal(vncConnections(desk.websockify.output()), 1, 'and connected it to the VNC server')
    await page.close()
  })

  await t.test('bob (developers) gets a 403 and never reaches websockify', async (t) => {
    // The 403 page's Content-Security-Policy (connect-src none) would stop the websocket
    // below inside the browser; bypassed, the attempt reaches Gatehouse, whose answer is
    // what this test is about.
    const browser = await chromium(t, { bypassCSP: true })
    const page = await firstPage(browser)
    const handshakeErrors: string[] = []
    page.on('websocket', (ws) => ws.on('socketerror', (error) => handshakeErrors.push(error)))
    await page.goto(workspace)
    t.equal(new URL(page.url()).origin, idpOrigin, 'sent to the IdP to sign in')

    // Quiet first: what websockify logs from here on can only be bob's doing.
    let last = ''
    await waitFor('websockify to go quiet', async () => {
      const now = desk.websockify.output()
      const quiet = now === last
      last = now
      if (!quiet) await new Promise((r) => setTimeout(r, 300))
      return quiet
    })
    const before = desk.websockify.output()

    const landed = page.waitForResponse((r) => r.url() === workspace && r.request().isNavigationRequest())
    await page.click('button[data-user="bob"]')
    const answer = await landed
    t.equal(answer.status(), 403, 'the workspace page answers 403')
    t.match(await page.title(), /403/, 'and the browser shows the 403 page')
    await screenshot(page, 'workspace-bob-403')
    const violations = await axe(page)
    t.same(violations, [], `the 403 page has no serious or critical accessibility violations ${describeViolations(violations)}`)

    const cookies = await browser.cookies(origin)
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ')
    const who = await request(gh.port, { path: '/.gatehouse/user', headers: { host: `desk.localhost:${gh.port}`, cookie } })
    t.match(JSON.parse(who.text), { signed_in: true, user: 'bob' }, 'bob holds a session: the refusals below are the policy, not a missing sign-in')

    // From his browser, as noVNC would open it: the handshake fails, nothing opens.
    const fromPage = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url, ['binary'])
          ws.onopen = () => {
            ws.close()
            resolve('open')
          }
          ws.onclose = (event) => resolve(`closed ${event.code}`)
          setTimeout(() => resolve(`still ${['connecting', 'open', 'closing', 'closed'][ws.readyState]} after 5 s`), 5000)
        }),
      `ws://desk.localhost:${gh.port}/websockify`,
    )
    t.equal(fromPage, 'closed 1006', "the page's websocket never opens")
    t.match(handshakeErrors.join('\n'), /Unexpected response code: 403/, 'Chromium saw the handshake answered with 403')

    // And directly, with his session cookie: refused with 403.
    const direct = await websocketHandshake(gh.port, { host: `desk.localhost:${gh.port}`, path: '/websockify', cookie })
    direct.ws?.close()
    t.equal(direct.status, 403, 'a websocket upgrade with his session cookie is refused with 403')

    await new Promise((r) => setTimeout(r, 300))
    const after = desk.websockify.output()
    t.equal(websocketsSeen(after), websocketsSeen(before), 'websockify accepted no websocket for bob')
    t.equal(vncConnections(after), vncConnections(before), 'and opened no connection to the VNC server')
    t.equal(after.slice(before.length), '', 'websockify saw no request from bob at all')
  })

  t.comment(`workspace test took ${Date.now() - started} ms`)
})
