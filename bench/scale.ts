// npm run bench:scale: issue 12's scale targets, each measured on loopback, bounded in
// time, against Gatehouse as its own process (node bin/gatehouse.js serve), and printed
// with its target and met or NOT MET. A missed target does not make it fail: it exits 0,
// or 1 when a part could not run at all.
//
//   npm run bench:scale                               every part, full size (about 3 minutes)
//   npm run bench:scale -- --only routes,check        some parts: routes websockets bodies check
//   npm run bench:scale -- --quick                    smaller numbers, one round: a smoke run
//
// Parts:
//   routes      10,000 routes (each its own host, a mix of prefix and exact-path matchers
//               and small policies): `gatehouse check` on them and `serve` from spawn until
//               /readyz answers 200 (< 2 s each); then req/s through one route in the middle
//               with 10 routes loaded versus 10,000 (autocannon; ratio >= 0.95)
//   websockets  5,000 websockets open at once through a signed-in route, one message
//               echoed on each: Gatehouse's RSS (< 400 MB)
//   bodies      a 1 GiB upload and a 1 GiB download through Gatehouse (public and signed
//               in) and through nginx streaming: MiB/s, and Gatehouse's RSS every 100 ms
//               (peak - start < 50 MiB; Gatehouse / nginx >= 0.8x)
//   check       `gatehouse check` on the demo config.yaml, 10 runs, median, from a checkout
//               (bin/gatehouse.js, tsx) and from `npm run build` (dist/cli.js) (< 0.3 s)

import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import WebSocket from 'ws'
import { startGatehouse } from './gatehouse.js'
import { nginxMissing } from './nginx.js'
import { commandVersion, describePlacement, packageVersion, pinPid, placement, ROOT, rssOfTrees, startScript, stopAll } from './procs.js'
import { median } from './report.js'
import {
  coresBusySince,
  coreTimes,
  GATEHOUSE_BIN,
  mib,
  openFileLimits,
  routeHost,
  sampleRss,
  serveGatehouse,
  stopChild,
  vmRss,
  writeRoutesConfig,
  type RssTrace,
  type RunningGatehouse,
} from './scale-gatehouse.js'
import { startStreamingNginx } from './scale-nginx.js'
import { benchSessionCookie } from './session.js'
import { handshake } from './websocket.js'

const PARTS = ['routes', 'websockets', 'bodies', 'check'] as const
type Part = (typeof PARTS)[number]

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
})
const QUICK = values.quick
const only = values.only?.split(',').map((s) => s.trim())
for (const n of only ?? []) if (!(PARTS as readonly string[]).includes(n)) throw new Error(`--only: unknown part ${n} (parts: ${PARTS.join(', ')})`)
const wanted = (n: Part) => !only || only.includes(n)

const GIB = 1024 ** 3
const SIZE = {
  routes: QUICK ? 1_000 : 10_000,
  connections: 50,
  loadSeconds: QUICK ? 2 : 5,
  loadRounds: QUICK ? 1 : 5,
  serveStarts: QUICK ? 1 : 3,
  checkRunsMany: QUICK ? 1 : 3,
  websockets: QUICK ? 500 : 5_000,
  wsBatch: 250,
  /** Websockets per client address: below limits.max_requests_per_client's default (256). */
  wsPerAddress: 200,
  bodyBytes: QUICK ? 64 * 1024 ** 2 : GIB,
  bodyRounds: QUICK ? 1 : 2,
  checkRuns: QUICK ? 3 : 10,
}
const TARGET = { loadSeconds: 2, readySeconds: 2, requestRatio: 0.95, wsRssBytes: 400 * 1e6, flatBytes: 50 * 1024 ** 2, nginxRatio: 0.8, checkSeconds: 0.3 }

const p = placement()
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-scale-'))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const mibText = (bytes: number) => `${fmt(mib(bytes), 1)} MiB`
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

async function cleanup(): Promise<void> {
  await stopAll()
  rmSync(work, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)))
}
process.stdout.on('error', () => {})

// ---------------------------------------------------------------- targets and the report

interface Result {
  what: string
  value: string
  target: string
  met: boolean
}
const results: Result[] = []
const failures: string[] = []

function result(what: string, value: string, target: string, met: boolean): void {
  results.push({ what, value, target, met })
  console.log(`  ${what}: ${value} (target ${target}): ${met ? 'met' : 'NOT MET'}`)
}

// ---------------------------------------------------------------- commands, timed

interface Timed {
  median: number
  min: number
  max: number
}

/** Runs a command `runs` times (on every core, whatever this process is pinned to), each
 *  to its end, and times each in ms; each run must exit 0 and print `expect`. */
function timeCommand(cmd: string, args: string[], runs: number, expect: string): Timed {
  const [file, argv] = p.pinned ? ['taskset', ['-c', `0-${cpus().length - 1}`, cmd, ...args]] : [cmd, args]
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    const out = spawnSync(file, argv, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
    ms.push(performance.now() - started)
    if (out.status !== 0 || !`${out.stdout}`.includes(expect))
      throw new Error(`${[cmd, ...args].join(' ')} exited ${out.status ?? out.signal}: ${`${out.stdout}${out.stderr}`.trim().split('\n').slice(-3).join(' ')}`)
  }
  return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms) }
}
const secs = (t: Timed, runs: number) =>
  `${(t.median / 1000).toFixed(3)} s${runs > 1 ? ` (median of ${runs}, ${(t.min / 1000).toFixed(3)} to ${(t.max / 1000).toFixed(3)})` : ''}`

let built: Promise<string | undefined> | undefined
/** `npm run build` once per run: undefined when dist/ is fresh, else why not. */
function build(): Promise<string | undefined> {
  built ??= (async () => {
    const started = performance.now()
    const out = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 })
    if (out.status !== 0) return `npm run build exited ${out.status ?? out.signal}: ${`${out.stdout}${out.stderr}`.trim().split('\n').slice(-3).join(' ')}`
    console.log(`  (npm run build: ${((performance.now() - started) / 1000).toFixed(1)} s)`)
    return undefined
  })()
  return built
}

/** How busy the load client's core and the contender's core were since `before`. */
function busySince(before: ReturnType<typeof coreTimes>): { text: string; proxy: number } {
  if (!p.pinned) return { text: '', proxy: NaN }
  const busy = coresBusySince(before)
  const pct = (core: number) => `${Math.round(100 * busy[core])}%`
  return { text: `cores busy: ${pct(p.client)} client${p.upstream === p.client ? ' + upstream' : ''}, ${pct(p.contender)} proxy`, proxy: busy[p.contender] }
}

// ---------------------------------------------------------------- plain HTTP helpers

function get(port: number, headers: Record<string, string>, urlPath = '/'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { accept: 'text/plain', ...headers }, agent: false, timeout: 10_000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

/** Without the session: not 200. With it: 200 and the upstream's body. Prints the check. */
async function authCheck(
  label: string,
  port: number,
  headers: Record<string, string>,
  urlPath: string,
  upstreamText: string,
  signedIn: boolean,
): Promise<void> {
  const withIt = await get(port, headers, urlPath)
  const body = withIt.status === 200 && withIt.text.includes(upstreamText)
  if (!signedIn) {
    console.log(`    ${label}: public: GET -> ${withIt.status}${body ? ' with the upstream body' : ''}`)
    if (!body) throw new Error(`${label}: GET answered ${withIt.status}, not 200 with the upstream body`)
    return
  }
  const { cookie: _cookie, ...rest } = headers
  const without = await get(port, rest, urlPath)
  console.log(`    ${label}: without the session cookie -> ${without.status}; with it -> ${withIt.status}${body ? ' with the upstream body' : ''}`)
  if (without.status === 200) throw new Error(`${label}: answered 200 without a session`)
  if (!body) throw new Error(`${label}: answered ${withIt.status} with the session, not 200 with the upstream body`)
}

// ---------------------------------------------------------------- routes

interface Load {
  rps: number
  p99: number
  other: number
  busy: string
}

async function load(port: number, headers: Record<string, string>, seconds: number): Promise<Load> {
  const before = coreTimes()
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: SIZE.connections, duration: seconds, headers })
  return { rps: r.requests.total / r.duration, p99: r.latency.p99, other: r.non2xx + r.errors + r.timeouts, busy: busySince(before).text }
}

async function partRoutes(): Promise<void> {
  const count = SIZE.routes
  const target = count / 2
  console.log(`routes: ${fmt(count)} routes, each its own host (r<i>.bench.test), a quarter each: a prefix with a one-rule group policy, an exact path`)
  console.log(`  with an email policy, prefix /api/ with a deny and an allow rule, a public prefix /; the route loaded is ${routeHost(target)} (prefix /,`)
  console.log(`  identity headers, a one-rule group policy, the bench session), the same route with the 10 routes around it loaded or all ${fmt(count)}`)
  const upstream = await startScript(p, p.upstream, 'bench/upstream.ts')
  const many = await writeRoutesConfig(path.join(work, 'routes-many'), range(0, count), target, upstream.port)
  const few = await writeRoutesConfig(path.join(work, 'routes-few'), range(target - 5, target + 5), target, upstream.port)

  const checkArgs = ['check', '--config', many.file]
  const expect = `OK (${count} routes)`
  const checkout = timeCommand(process.execPath, [GATEHOUSE_BIN, ...checkArgs], SIZE.checkRunsMany, expect)
  result(
    `gatehouse check, ${fmt(count)} routes, checkout (node bin/gatehouse.js, tsx)`,
    secs(checkout, SIZE.checkRunsMany),
    `< ${TARGET.loadSeconds} s`,
    checkout.median < TARGET.loadSeconds * 1000,
  )
  const notBuilt = await build()
  if (notBuilt) console.log(`  gatehouse check from dist/: skipped (${notBuilt})`)
  else {
    const dist = timeCommand(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...checkArgs], SIZE.checkRunsMany, expect)
    result(
      `gatehouse check, ${fmt(count)} routes, production build (node dist/cli.js)`,
      secs(dist, SIZE.checkRunsMany),
      `< ${TARGET.loadSeconds} s`,
      dist.median < TARGET.loadSeconds * 1000,
    )
  }

  // serve: from spawn to /readyz 200, on one core (the contender's); the production build
  // first, then the checkout, whose last start stays up to be loaded.
  if (!notBuilt) {
    const distMs: number[] = []
    for (let i = 0; i < SIZE.serveStarts; i++) {
      const g = await serveGatehouse(p, many.file, many.port, path.join(ROOT, 'dist', 'cli.js'))
      distMs.push(g.readyMs)
      await stopChild(g.child)
    }
    const t: Timed = { median: median(distMs), min: Math.min(...distMs), max: Math.max(...distMs) }
    result(
      `serve, ${fmt(count)} routes, spawn until /readyz answers 200, production build (node dist/cli.js, one core)`,
      secs(t, SIZE.serveStarts),
      `< ${TARGET.readySeconds} s`,
      t.median < TARGET.readySeconds * 1000,
    )
  }
  const readyMs: number[] = []
  let big: RunningGatehouse | undefined
  for (let i = 0; i < SIZE.serveStarts; i++) {
    if (big) await stopChild(big.child)
    big = await serveGatehouse(p, many.file, many.port)
    readyMs.push(big.readyMs)
  }
  const small = await serveGatehouse(p, few.file, few.port)
  const ready: Timed = { median: median(readyMs), min: Math.min(...readyMs), max: Math.max(...readyMs) }
  console.log(`  serve, 10 routes, spawn until /readyz answers 200, checkout: ${(small.readyMs / 1000).toFixed(3)} s`)
  result(
    `serve, ${fmt(count)} routes, spawn until /readyz answers 200, checkout (node bin/gatehouse.js, tsx, one core)`,
    secs(ready, SIZE.serveStarts),
    `< ${TARGET.readySeconds} s`,
    ready.median < TARGET.readySeconds * 1000,
  )

  const headers = { host: routeHost(target), cookie: benchSessionCookie() }
  for (const [label, g] of [
    ['10 routes', small],
    [`${fmt(count)} routes`, big!],
  ] as const)
    await authCheck(`${label}, Host ${headers.host}`, g.port, headers, '/', 'hello from the bench upstream', true)

  const instances = [
    { label: '10 routes', g: small, samples: [] as Load[] },
    { label: `${fmt(count)} routes`, g: big!, samples: [] as Load[] },
  ]
  for (const x of instances) await load(x.g.port, headers, QUICK ? 1 : 2) // warm-up
  for (let round = 1; round <= SIZE.loadRounds; round++) {
    // Alternate the order, so that neither always runs first.
    for (const x of round % 2 ? instances : [...instances].reverse()) {
      const s = await load(x.g.port, headers, SIZE.loadSeconds)
      x.samples.push(s)
      console.log(
        `    round ${round}/${SIZE.loadRounds}  ${x.label.padEnd(14)} ${fmt(s.rps).padStart(7)} req/s  p99 ${s.p99.toFixed(2)} ms  ${s.busy}${s.other ? `  ${s.other} not 2xx or failed` : ''}`,
      )
    }
  }
  const [few10, manyN] = instances
  const ratios = manyN.samples.map((s, i) => s.rps / few10.samples[i].rps)
  const ratio = median(ratios)
  for (const x of instances)
    console.log(
      `    ${x.label}: ${fmt(median(x.samples.map((s) => s.rps)))} req/s, p99 ${median(x.samples.map((s) => s.p99)).toFixed(2)} ms, RSS ${mibText(vmRss(x.g.pid))}` +
        `, ${x.samples.reduce((n, s) => n + s.other, 0)} not 2xx or failed`,
    )
  result(
    `req/s with ${fmt(count)} routes / with 10 (autocannon, ${SIZE.connections} connections, ${SIZE.loadSeconds} s, median of ${SIZE.loadRounds} interleaved round${SIZE.loadRounds > 1 ? 's' : ''})`,
    `${ratio.toFixed(3)}x${ratios.length > 1 ? ` [${Math.min(...ratios).toFixed(3)} to ${Math.max(...ratios).toFixed(3)}]` : ''}`,
    `>= ${TARGET.requestRatio}x`,
    ratio >= TARGET.requestRatio,
  )
  await Promise.all([stopChild(small.child), stopChild(big!.child), stopChild(upstream.child)])
}

// ---------------------------------------------------------------- websockets

/** Makes sure a process may open `want` files, raising its soft limit (and, as root, its
 *  hard limit) with prlimit when needed; says what it did. */
function ensureOpenFiles(pid: number, want: number, who: string): void {
  const { soft, hard } = openFileLimits(pid)
  if (soft >= want) return
  const newHard = Math.max(hard === Infinity ? want : hard, want)
  const out = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${want}:${newHard}`], { encoding: 'utf8' })
  const now = openFileLimits(pid)
  if (now.soft < want) throw new Error(`${who} may open ${now.soft} files, ${want} are needed, and prlimit could not raise it: ${`${out.stderr}`.trim()}`)
  console.log(`    ${who}: open files limit raised from ${soft} to ${now.soft} (prlimit)`)
}

/** Opens one websocket from `localAddress`: the socket, or why it did not open. */
function openOne(url: string, headers: Record<string, string>, localAddress: string): Promise<WebSocket | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, localAddress, handshakeTimeout: 30_000 })
    ws.on('error', (err) => resolve(err.message))
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (req, res) => {
      req.destroy()
      resolve(`HTTP ${res.statusCode}`)
    })
  })
}

async function partWebsockets(): Promise<void> {
  const count = SIZE.websockets
  const addresses = Math.ceil(count / SIZE.wsPerAddress)
  console.log(
    `websockets: ${fmt(count)} at once through Gatehouse's signed-in route (allow_websockets, the 20-rule policy, identity headers) to the bench upstream's echo;`,
  )
  console.log(
    `  the ws ${packageVersion('ws')} client, ${SIZE.wsBatch} handshakes at a time, from ${addresses} loopback addresses (127.0.1.x, ${SIZE.wsPerAddress} each: limits.max_requests_per_client stays at its default)`,
  )
  const upstream = await startScript(p, p.upstream, 'bench/upstream.ts')
  const g = await startGatehouse(p, path.join(work, 'websockets'), upstream.port, 'cookie')
  const pid = g.pids[0]
  try {
    ensureOpenFiles(process.pid, count + 1024, 'the client (this process)')
    ensureOpenFiles(pid, 2 * count + 1024, 'Gatehouse')
    ensureOpenFiles(upstream.child.pid!, count + 1024, 'the upstream')
    const url = `ws://127.0.0.1:${g.port}/`
    const headers = { cookie: g.cookie }
    const refused = await handshake(url, {})
    const opened = await handshake(url, headers)
    console.log(`    handshake without the session cookie -> ${refused || 'no answer'}; with it -> ${opened}`)
    if (refused === 101 || opened !== 101) throw new Error('the signed-in route does not refuse without a session, or does not open with it')
    await sleep(1000)
    const idle = vmRss(pid)
    const trace = sampleRss(() => vmRss(pid))

    const sockets: WebSocket[] = []
    const refusals = new Map<string, number>()
    let closedEarly = 0
    const started = performance.now()
    for (let from = 0; from < count; from += SIZE.wsBatch) {
      const batch = await Promise.all(
        range(from, Math.min(count, from + SIZE.wsBatch)).map((i) => openOne(url, headers, `127.0.1.${1 + Math.floor(i / SIZE.wsPerAddress)}`)),
      )
      for (const x of batch) {
        if (typeof x === 'string') refusals.set(x, (refusals.get(x) ?? 0) + 1)
        else {
          sockets.push(x)
          x.once('close', () => closedEarly++)
        }
      }
    }
    const openSeconds = (performance.now() - started) / 1000
    console.log(
      `    opened ${fmt(sockets.length)} of ${fmt(count)} in ${openSeconds.toFixed(1)} s` +
        `${refusals.size ? `; not opened: ${[...refusals].map(([why, n]) => `${n} x ${why}`).join(', ')}` : ''}`,
    )

    // One message on each, and its echo.
    let echoed = 0
    let wrong = 0
    await Promise.race([
      Promise.all(
        sockets.map(
          (ws, i) =>
            new Promise<void>((resolve) => {
              ws.once('message', (data) => {
                if (data.toString() === `echo ${i}`) echoed++
                else wrong++
                resolve()
              })
              ws.send(`echo ${i}`)
            }),
        ),
      ),
      sleep(60_000),
    ])
    await sleep(1000)
    const open = vmRss(pid)
    console.log(
      `    echoed ${fmt(echoed)} of ${fmt(sockets.length)}${wrong ? `, ${wrong} wrong` : ''}${closedEarly ? `; ${closedEarly} closed before the end` : ''}; ` +
        `Gatehouse RSS ${mibText(idle)} before, ${mibText(open)} with all open (${fmt((open - idle) / 1024 / Math.max(1, sockets.length), 1)} KiB a websocket)`,
    )

    const stillOpen = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length
    const closed = performance.now()
    await Promise.race([
      Promise.all(
        sockets.map(
          (ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : (ws.once('close', () => resolve()), ws.close(1000)))),
        ),
      ),
      sleep(30_000),
    ])
    for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
    const closeSeconds = (performance.now() - closed) / 1000
    await sleep(2000)
    const rss = trace.stop()
    console.log(
      `    closed ${fmt(stillOpen)} in ${closeSeconds.toFixed(1)} s; RSS 2 s later ${mibText(rss.end)}; peak over the run ${mibText(rss.peak)} (${rss.samples} samples, every 100 ms)`,
    )
    const all = sockets.length === count && echoed === count
    result(
      `Gatehouse RSS with ${fmt(count)} websockets open${all ? ', each echoed' : ` (only ${fmt(sockets.length)} opened, ${fmt(echoed)} echoed)`}`,
      `${fmt(open / 1e6)} MB (${mibText(open)}; peak ${fmt(rss.peak / 1e6)} MB)`,
      `< ${TARGET.wsRssBytes / 1e6} MB`,
      all && open < TARGET.wsRssBytes && rss.peak < TARGET.wsRssBytes,
    )
  } finally {
    await killPid(pid)
    await stopChild(upstream.child)
  }
}

/** Stops a process this bench started by pid (SIGTERM, SIGKILL after 3 s). */
async function killPid(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  if (!alive()) return
  process.kill(pid, 'SIGTERM')
  for (let i = 0; i < 60 && alive(); i++) await sleep(50)
  if (alive()) process.kill(pid, 'SIGKILL')
}

// ---------------------------------------------------------------- large bodies

interface Transfer {
  ms: number
  bytes: number
}

const CLIENT_CHUNK = Buffer.alloc(256 * 1024, 'upload ')

/** POSTs `bytes` (Content-Length), written from one reused buffer as fast as the socket
 *  takes them; the upstream answers the count it received. */
function upload(base: string, headers: Record<string, string>, bytes: number): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.request(`${base}/upload`, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
    })
    const timer = setTimeout(() => req.destroy(new Error('the upload took more than 5 minutes')), 300_000)
    req.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => {
        clearTimeout(timer)
        const ms = performance.now() - started
        let counted = -1
        try {
          counted = (JSON.parse(text) as { bytes: number }).bytes
        } catch {}
        if (res.statusCode !== 200 || counted !== bytes)
          reject(new Error(`upload: ${res.statusCode}, the upstream counted ${counted} bytes of ${bytes}: ${text.slice(0, 200)}`))
        else resolve({ ms, bytes })
      })
    })
    let sent = 0
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(CLIENT_CHUNK.length, bytes - sent)
        sent += n
        if (!req.write(n === CLIENT_CHUNK.length ? CLIENT_CHUNK : CLIENT_CHUNK.subarray(0, n))) {
          req.once('drain', pump)
          return
        }
      }
      req.end()
    }
    pump()
  })
}

/** GETs a `bytes` download and reads it as fast as it comes, counting. */
function download(base: string, headers: Record<string, string>, bytes: number): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = http.get(`${base}/download?bytes=${bytes}`, { agent: false, headers }, (res) => {
      let got = 0
      res.on('data', (chunk: Buffer) => (got += chunk.length))
      res.on('error', reject)
      res.on('end', () => {
        clearTimeout(timer)
        if (res.statusCode !== 200 || got !== bytes) reject(new Error(`download: ${res.statusCode}, ${got} bytes of ${bytes}`))
        else resolve({ ms: performance.now() - started, bytes })
      })
    })
    const timer = setTimeout(() => req.destroy(new Error('the download took more than 5 minutes')), 300_000)
    req.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

interface Direction {
  /** MiB/s. */
  rate: number[]
  rss: RssTrace[]
  /** Seconds of the proxy's core busy per GiB moved. */
  cpu: number[]
}

interface BodyContender {
  name: string
  base: string
  headers: Record<string, string>
  rss: () => number
  gatehouse: boolean
  up: Direction
  down: Direction
}

async function partBodies(): Promise<void> {
  const bytes = SIZE.bodyBytes
  const size = bytes >= GIB ? `${bytes / GIB} GiB` : `${bytes / 1024 ** 2} MiB`
  console.log(
    `bodies: a ${size} upload (POST, Content-Length) and a ${size} download, one at a time, with a Node http client (256 KiB writes, reads as it comes);`,
  )
  console.log(`  the upstream (bench/scale-upstream.ts) discards uploads counting their bytes and generates downloads on the fly; RSS read every 100 ms`)
  const upstream = await startScript(p, p.upstream, 'bench/scale-upstream.ts')
  const g = await startGatehouse(p, path.join(work, 'bodies'), upstream.port, 'cookie')
  const pid = g.pids[0]
  const contenders: BodyContender[] = []
  const add = (name: string, base: string, headers: Record<string, string>, rss: () => number, gatehouse: boolean) =>
    contenders.push({ name, base, headers, rss, gatehouse, up: { rate: [], rss: [], cpu: [] }, down: { rate: [], rss: [], cpu: [] } })
  add('Gatehouse, public route', `http://127.0.0.1:${g.port}/public`, {}, () => vmRss(pid), true)
  add('Gatehouse, signed in', `http://127.0.0.1:${g.port}`, { cookie: g.cookie }, () => vmRss(pid), true)
  const missing = nginxMissing()
  if (missing) console.log(`  nginx: SKIPPED: ${missing}`)
  else {
    const nginx = await startStreamingNginx(p, work, upstream.port)
    console.log(`  nginx ${commandVersion('nginx', ['-v'], /nginx\/(\S+)/)}, worker_processes 1, upstream keepalive; ${nginx.settings.common}`)
    console.log(
      `    "nginx, 64 KiB buffers" adds: ${nginx.settings.buffers64k} "nginx, default buffers" keeps nginx's defaults for those; RSS: master and worker`,
    )
    add('nginx, 64 KiB buffers', nginx.buffers64k, {}, () => rssOfTrees([nginx.pid]), false)
    add('nginx, default buffers', nginx.defaultBuffers, {}, () => rssOfTrees([nginx.pid]), false)
  }
  try {
    for (const c of contenders) {
      const port = Number(new URL(c.base).port)
      const prefix = new URL(c.base).pathname.replace(/\/$/, '')
      await authCheck(c.name, port, c.headers, `${prefix}/`, 'hello from the scale upstream', c.name === 'Gatehouse, signed in')
    }
    // Warm-up, not measured: 64 MiB each way.
    for (const c of contenders) {
      await upload(c.base, c.headers, 64 * 1024 ** 2)
      await download(c.base, c.headers, 64 * 1024 ** 2)
    }
    await sleep(500)
    for (let round = 1; round <= SIZE.bodyRounds; round++) {
      for (const c of contenders) {
        for (const [dir, run] of [
          ['upload', upload],
          ['download', download],
        ] as const) {
          const trace = sampleRss(c.rss)
          const before = coreTimes()
          let t: Transfer
          try {
            t = await run(c.base, c.headers, bytes)
          } catch (err) {
            trace.stop()
            throw new Error(`${c.name}, ${dir}: ${(err as Error).message}`)
          }
          const rss = trace.stop()
          const busy = busySince(before)
          const rate = mib(t.bytes) / (t.ms / 1000)
          const into = dir === 'upload' ? c.up : c.down
          into.rate.push(rate)
          into.cpu.push((busy.proxy * t.ms) / 1000 / (t.bytes / GIB))
          into.rss.push(rss)
          console.log(
            `    round ${round}/${SIZE.bodyRounds}  ${c.name.padEnd(24)} ${dir.padEnd(8)} ${fmt(rate).padStart(6)} MiB/s  ${(t.ms / 1000).toFixed(2)} s  ` +
              `RSS ${mibText(rss.start)} -> peak ${mibText(rss.peak)} -> ${mibText(rss.end)} (${rss.samples} samples)  ${busy.text}`,
          )
          await sleep(300)
        }
      }
    }
  } finally {
    await killPid(pid)
    await stopChild(upstream.child)
  }

  console.log(
    `  medians of ${SIZE.bodyRounds} round${SIZE.bodyRounds > 1 ? 's' : ''}; the proxy's core busy per GiB moved; RSS: the first start, the largest peak, the last end, the largest peak - start of a transfer:`,
  )
  for (const c of contenders)
    for (const [dir, x] of [
      ['upload', c.up],
      ['download', c.down],
    ] as const) {
      const growth = Math.max(...x.rss.map((r) => r.peak - r.start))
      console.log(
        `    ${c.name.padEnd(24)} ${dir.padEnd(8)} ${fmt(median(x.rate)).padStart(6)} MiB/s${p.pinned ? `  ${median(x.cpu).toFixed(2)} core-s/GiB` : ''}  RSS ${mibText(x.rss[0].start)} / ${mibText(Math.max(...x.rss.map((r) => r.peak)))} / ` +
          `${mibText(x.rss[x.rss.length - 1].end)}, +${mibText(growth)}`,
      )
    }
  for (const c of contenders.filter((x) => x.gatehouse))
    for (const [dir, x] of [
      ['upload', c.up],
      ['download', c.down],
    ] as const) {
      const growth = Math.max(...x.rss.map((r) => r.peak - r.start))
      result(`${c.name}, ${size} ${dir}: RSS peak - start`, `+${mibText(growth)}`, `< ${mibText(TARGET.flatBytes)}`, growth < TARGET.flatBytes)
    }
  const nginxes = contenders.filter((x) => !x.gatehouse)
  if (nginxes.length === 0) return
  for (const c of contenders.filter((x) => x.gatehouse))
    for (const dir of ['upload', 'download'] as const) {
      const pick = (x: BodyContender) => median((dir === 'upload' ? x.up : x.down).rate)
      const best = nginxes.reduce((a, b) => (pick(b) > pick(a) ? b : a))
      const ratio = pick(c) / pick(best)
      result(`${c.name} / ${best.name} (the faster nginx), ${dir} MiB/s`, `${ratio.toFixed(2)}x`, `>= ${TARGET.nginxRatio}x`, ratio >= TARGET.nginxRatio)
    }
}

// ---------------------------------------------------------------- check on the demo config

async function partCheck(): Promise<void> {
  const runs = SIZE.checkRuns
  console.log(`check: gatehouse check --config config.yaml (the demo configuration), ${runs} runs each, wall time from spawn to exit, on every core`)
  const baseline = timeCommand(process.execPath, ['-e', '0'], runs, '')
  console.log(`  for scale: node -e 0 (Node starting and exiting, nothing loaded): ${secs(baseline, runs)}`)
  const config = path.join(ROOT, 'config.yaml')
  const checkout = timeCommand(process.execPath, [GATEHOUSE_BIN, 'check', '--config', config], runs, 'OK')
  result(
    'gatehouse check, demo config, checkout (node bin/gatehouse.js, tsx)',
    secs(checkout, runs),
    `< ${TARGET.checkSeconds} s`,
    checkout.median < TARGET.checkSeconds * 1000,
  )
  const notBuilt = await build()
  if (notBuilt) {
    console.log(`  production build: could not run: ${notBuilt}`)
    failures.push(`check: ${notBuilt}`)
    return
  }
  const dist = timeCommand(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'check', '--config', config], runs, 'OK')
  result(
    'gatehouse check, demo config, production build (node dist/cli.js)',
    secs(dist, runs),
    `< ${TARGET.checkSeconds} s`,
    dist.median < TARGET.checkSeconds * 1000,
  )
}

// ---------------------------------------------------------------- main

/** The commit measured, and whether src/ differs from it. */
function sourceState(): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  const head = git('log', '-1', '--format=%h %s').stdout?.trim()
  if (!head) return 'source: not a git checkout'
  const changed = git('status', '--porcelain', '--', 'src').stdout?.trim().split('\n').filter(Boolean).length ?? 0
  return `source: commit ${head.length > 90 ? `${head.slice(0, 87)}...` : head}${changed ? `, with ${changed} uncommitted change${changed > 1 ? 's' : ''} in src/` : ', src/ as committed'}`
}

async function main(): Promise<void> {
  console.log(
    `Gatehouse scale bench${QUICK ? ' (--quick: smaller numbers, indicative only)' : ''}: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
  )
  console.log(`${describePlacement(p)}; Gatehouse is node bin/gatehouse.js serve (TypeScript through tsx), its own process`)
  console.log(`${sourceState()}\n`)
  pinPid(p, process.pid, p.client)
  const parts: Record<Part, () => Promise<void>> = { routes: partRoutes, websockets: partWebsockets, bodies: partBodies, check: partCheck }
  for (const name of PARTS) {
    if (!wanted(name)) continue
    const started = performance.now()
    try {
      await parts[name]()
    } catch (err) {
      console.log(`  ${name}: could not run: ${(err as Error).message}`)
      failures.push(`${name}: ${(err as Error).message}`)
    }
    console.log(`  (${name}: ${((performance.now() - started) / 1000).toFixed(0)} s)\n`)
  }
  if (results.length > 0) {
    console.log('scale targets:')
    for (const r of results) console.log(`  ${r.met ? 'met    ' : 'NOT MET'}  ${r.what}: ${r.value} (target ${r.target})`)
    console.log(`  ${results.filter((r) => r.met).length} of ${results.length} met${QUICK ? ' (--quick: indicative only)' : ''}`)
  }
  for (const f of failures) console.log(`could not run: ${f}`)
  if (failures.length > 0) process.exitCode = 1
}

try {
  await main()
} finally {
  await cleanup()
}
