// npm run bench: Gatehouse side by side with what operators run instead, in one run, all
// in front of the same upstream (bench/upstream.ts), loaded with the same client and
// settings, in interleaved rounds, each contender alone on one core. Loopback only,
// bounded in time. Each contender is first shown to authenticate (or to be public), and
// every status it answers is counted, so a redirect cannot pass for a proxied answer.
//
//   npm run bench                                   everything, 5 rounds of 5 s
//   npm run bench -- --duration 5 --rounds 3 --connections 50
//   npm run bench -- --client autocannon            (default: wrk when installed)
//   npm run bench -- --only cookie,fastify,ws       some contenders (names below)
//   npm run bench -- --short                        1 round of 2 s, no micro-benchmarks (CI)
//   npm run bench -- --skip-proxy                   the micro-benchmarks only
//
// Contenders (--only names): direct, nginx, fastify, apache, express, public, cookie,
// redis, spread and workers (Gatehouse signed in, free to use every core, as one process
// and with workers: auto), ws (websockets, direct and through Gatehouse), micro (route
// table and policy).

import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import type { TestIdp } from '../test/helpers/idp.js'
import { apacheMissing, startApache } from './apache.js'
import { startExpress } from './express.js'
import { redisMissing, startGatehouse, type GatehouseInstance, type GatehouseOptions } from './gatehouse.js'
import { loader, type Sample } from './load.js'
import { nginxMissing, startNginx, startStaticNginx } from './nginx.js'
import { benchCompile, benchDecisions } from './policy.js'
import { commandVersion, describePlacement, packageVersion, pinPid, placement, rssOfTrees, startScript, stopAll, type Running } from './procs.js'
import { median, printHttpTable, printRatios, printWsTable, type HttpRow, type Ratio, type WsRow } from './report.js'
import { benchRouteTable } from './route-table.js'
import { startBenchIdp } from './signin.js'
import { echoes, handshake, runWsJob, type WsJob, type WsResult } from './websocket.js'

const NAMES = ['direct', 'nginx', 'fastify', 'apache', 'express', 'public', 'cookie', 'redis', 'spread', 'workers', 'ws', 'micro'] as const
type Name = (typeof NAMES)[number]

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string', default: '50' },
    client: { type: 'string' },
    only: { type: 'string' },
    short: { type: 'boolean', default: false },
    'skip-proxy': { type: 'boolean', default: false },
  },
})
const SHORT = values.short
const DURATION = Number(values.duration ?? (SHORT ? 2 : 5))
const ROUNDS = Number(values.rounds ?? (SHORT ? 1 : 5))
const CONNECTIONS = Number(values.connections)
const WS = { streamConnections: 4, window: 64, pingPongConnections: 10, size: 64 }
for (const [k, v] of Object.entries({ duration: DURATION, rounds: ROUNDS, connections: CONNECTIONS })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number`)
}
const only = values.only?.split(',').map((s) => s.trim())
for (const n of only ?? []) if (!(NAMES as readonly string[]).includes(n)) throw new Error(`--only: unknown name ${n} (names: ${NAMES.join(', ')})`)
const wanted = (n: Name) => (values['skip-proxy'] ? n === 'micro' : only ? only.includes(n) : n !== 'micro' || !SHORT)

const UPSTREAM_TEXT = 'hello from the bench upstream'

interface Contender extends HttpRow {
  id: Name
  run: Running
  /** Public contenders answer without a session; the others must refuse without one. */
  signedIn: boolean
  /** The upstream itself: moved to the contender's core while it is measured. */
  repin?: number
}

const p = placement()
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'))
let idp: TestIdp | undefined

async function cleanup(): Promise<void> {
  await stopAll()
  await idp?.close().catch(() => {})
  rmSync(work, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)))
}
// Output piped into a reader that stops early (| head) must not leave servers behind.
process.stdout.on('error', () => {})

/** Without the session: anything but 200. With it: 200 and the upstream's own body. */
async function authCheck(c: Contender): Promise<string | undefined> {
  // Plain requests, like the load client's (fetch would add headers of its own).
  const get = async (headers: Record<string, string>) => {
    const res = await request(c.run.url, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 })
    const text = await res.body.text()
    const location = res.headers.location
    return { status: res.statusCode, location: typeof location === 'string' ? location : undefined, text }
  }
  const withIt = await get(c.run.headers)
  const body = withIt.status === 200 && withIt.text.includes(UPSTREAM_TEXT)
  if (!c.signedIn) {
    console.log(`    public: GET -> ${withIt.status}${body ? ' with the upstream body' : ''}`)
    return body ? undefined : `GET answered ${withIt.status}${withIt.status === 200 ? ' without the upstream body' : ''}`
  }
  const without = await get({})
  const where = without.location ? ` (to ${new URL(without.location, c.run.url).origin}${new URL(without.location, c.run.url).pathname})` : ''
  console.log(`    without the session cookie -> ${without.status}${where}; with it -> ${withIt.status}${body ? ' with the upstream body' : ''}`)
  if (without.status === 200) return 'answered 200 without a session'
  if (!body) return `answered ${withIt.status} with the session${withIt.status === 200 ? ' but not the upstream body' : ''}`
  return undefined
}

async function main() {
  const client = loader(p, values.client)
  console.log(`Gatehouse bench: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`)
  console.log(`client ${client.name}, ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} interleaved round${ROUNDS === 1 ? '' : 's'}`)
  console.log(`${describePlacement(p)}\n`)
  // This process (the IdP, the checks, autocannon when there is no wrk) stays on the client's core.
  pinPid(p, process.pid, p.client)

  if (wanted('micro')) {
    console.log('route table:')
    console.log(await benchRouteTable())
    console.log('\npolicy engine (one core):')
    console.log(benchDecisions())
    console.log(benchCompile())
    console.log()
  }
  const httpNames = NAMES.filter((n) => n !== 'micro' && n !== 'ws' && wanted(n))
  if (httpNames.length === 0 && !wanted('ws')) return

  const upstream = await startScript(p, p.upstream, 'bench/upstream.ts')
  const up = upstream.port
  const contenders: Contender[] = []
  const skipped: { name: string; reason: string }[] = []
  const setups: Record<
    Exclude<Name, 'micro' | 'ws'>,
    { name: string; what: () => string; start: () => Promise<Omit<Contender, 'samples' | 'rss' | 'name' | 'id'>> }
  > = {
    direct: {
      name: 'upstream, direct',
      what: () => 'the Node upstream itself (node:http), moved to the contender core while measured',
      start: async () => ({ run: { url: `http://127.0.0.1:${up}/`, headers: {}, pids: [upstream.child.pid!] }, signedIn: false, repin: upstream.child.pid! }),
    },
    nginx: {
      name: 'nginx, plain proxy',
      what: () => `nginx ${commandVersion('nginx', ['-v'], /nginx\/(\S+)/)}, worker_processes 1, upstream keepalive, no sign-in`,
      start: async () => {
        const missing = nginxMissing()
        if (missing) throw new Skip(missing)
        return { run: await startNginx(p, work, up), signedIn: false }
      },
    },
    fastify: {
      name: '@fastify/http-proxy, bare',
      what: () => `@fastify/http-proxy ${packageVersion('@fastify/http-proxy')} on fastify ${packageVersion('fastify')}, no sign-in, no checks`,
      start: async () => {
        const { child, port } = await startScript(p, p.contender, 'bench/bare-proxy.ts', [String(up)])
        return { run: { url: `http://127.0.0.1:${port}/`, headers: {}, pids: [child.pid!] }, signedIn: false }
      },
    },
    apache: {
      name: 'Apache + mod_auth_openidc, signed in',
      what: () =>
        `Apache ${commandVersion('apache2', ['-v'], /Apache\/(\S+)/)} mpm_event (1 process), mod_auth_openidc ${commandVersion('dpkg-query', ['-W', '-f', '${Version}', 'libapache2-mod-auth-openidc'], /^(\S+)/)} (server-side sessions in shm), mod_proxy_http; Require valid-user`,
      start: async () => {
        const missing = apacheMissing()
        if (missing) throw new Skip(missing)
        idp ??= await startBenchIdp()
        return { run: await startApache(p, work, idp, up, CONNECTIONS), signedIn: true }
      },
    },
    express: {
      name: 'Express + openid + proxy, signed in',
      what: () =>
        `express ${packageVersion('express')}, express-openid-connect ${packageVersion('express-openid-connect')} (authRequired, its cookie session), http-proxy-middleware ${packageVersion('http-proxy-middleware')}`,
      start: async () => {
        idp ??= await startBenchIdp()
        return { run: await startExpress(p, idp, up), signedIn: true }
      },
    },
    public: {
      name: 'Gatehouse, public route',
      what: () => 'Gatehouse, a route with allow_public_unauthenticated_access',
      start: async () => {
        const g = await gatehouse('cookie')
        return { run: { url: `http://127.0.0.1:${g.port}/public/`, headers: {}, pids: g.pids }, signedIn: false }
      },
    },
    cookie: {
      name: 'Gatehouse, signed in, cookie store',
      what: () => 'Gatehouse, a sealed session cookie, a 20-rule policy, identity headers and assertion',
      start: async () => {
        const g = await gatehouse('cookie')
        return { run: { url: `http://127.0.0.1:${g.port}/`, headers: { cookie: g.cookie }, pids: g.pids }, signedIn: true }
      },
    },
    redis: {
      name: 'Gatehouse, signed in, Redis store',
      what: () =>
        `Gatehouse as the cookie store above, with session.store on redis-server ${commandVersion('redis-server', ['--version'], /v=(\S+)/)} (on the same core; RSS includes it)`,
      start: async () => {
        const missing = redisMissing()
        if (missing) throw new Skip(missing)
        const g = await gatehouse('redis')
        return { run: { url: `http://127.0.0.1:${g.port}/`, headers: { cookie: g.cookie }, pids: g.pids }, signedIn: true }
      },
    },
    spread: {
      name: 'Gatehouse, signed in, 1 process, any core',
      what: () =>
        `Gatehouse as the cookie store above, workers: 1, free to use all ${cpus().length} cores, in front of nginx answering by itself (the load client and nginx stay pinned)`,
      start: async () => {
        const g = await gatehouse('cookie', { cores: 'all' })
        return { run: { url: `http://127.0.0.1:${g.port}/`, headers: { cookie: g.cookie }, pids: g.pids }, signedIn: true }
      },
    },
    workers: {
      name: `Gatehouse, signed in, workers: auto (${cpus().length})`,
      what: () => `Gatehouse as above with workers: auto, one worker per core, on all ${cpus().length} cores, in front of the same nginx`,
      start: async () => {
        const g = await gatehouse('cookie', { cores: 'all', workers: cpus().length })
        return { run: { url: `http://127.0.0.1:${g.port}/`, headers: { cookie: g.cookie }, pids: g.pids }, signedIn: true }
      },
    },
  }
  const instances = new Map<string, Promise<GatehouseInstance>>()
  // Gatehouse on every core is compared in front of an upstream that costs little CPU: on
  // a small machine the Node upstream and the load client would otherwise take the cores
  // a second worker needs.
  let staticUpstream: Promise<number> | undefined
  const gatehouse = (store: 'cookie' | 'redis', options: GatehouseOptions = {}) => {
    const key = `${store} ${options.workers ?? 1} ${options.cores ?? 'contender'}`
    if (!instances.has(key)) {
      if (options.cores === 'all') {
        const missing = nginxMissing()
        if (missing) throw new Skip(missing)
      }
      const target = options.cores === 'all' ? (staticUpstream ??= startStaticNginx(p, work, p.upstream, UPSTREAM_TEXT)) : Promise.resolve(up)
      instances.set(
        key,
        target.then((port) => startGatehouse(p, work, port, store, options)),
      )
    }
    return instances.get(key)!
  }

  console.log('contenders (each shown to authenticate before it is loaded):')
  for (const id of httpNames) {
    const { name, start, what } = setups[id as keyof typeof setups]
    try {
      console.log(`  ${name}: ${what()}`)
      const c: Contender = { id, name, samples: [], rss: [], ...(await start()) }
      const failed = await authCheck(c)
      if (failed) throw new Error(`authentication check failed: ${failed}`)
      contenders.push(c)
    } catch (err) {
      const reason = err instanceof Skip ? err.message : `could not run: ${(err as Error).message}`
      console.log(`    SKIPPED: ${reason}`)
      skipped.push({ name, reason })
    }
  }

  // Websockets: the upstream directly, and through Gatehouse's signed-in route.
  let wsRows: (WsRow & { url: string; headers: Record<string, string>; pids: number[] })[] = []
  if (wanted('ws')) {
    try {
      const g = await gatehouse('cookie')
      // The upstream stays on its core for both: the only difference between the two is
      // Gatehouse's hop, on its own core.
      const direct = { name: 'websocket, direct', url: `ws://127.0.0.1:${up}/`, headers: {}, pids: [upstream.child.pid!] }
      const through = { name: 'websocket, Gatehouse signed in', url: `ws://127.0.0.1:${g.port}/`, headers: { cookie: g.cookie }, pids: g.pids }
      console.log(`  websockets: the ws ${packageVersion('ws')} client, direct and through Gatehouse's signed-in route (cookie store, 20-rule policy)`)
      if (!(await echoes(direct.url, {}))) throw new Error('the upstream does not echo')
      console.log('    direct: echoes')
      const refused = await handshake(through.url, {})
      const opened = await handshake(through.url, through.headers)
      const echoed = opened === 101 && (await echoes(through.url, through.headers))
      console.log(`    through Gatehouse: handshake without the session cookie -> ${refused || 'no answer'}; with it -> ${opened}${echoed ? ', echoes' : ''}`)
      if (refused === 101) throw new Error('the handshake opened without a session')
      if (!echoed) throw new Error('the handshake with the session did not open, or nothing echoed')
      const rows: { name: string; url: string; headers: Record<string, string>; pids: number[] }[] = [direct, through]
      // nginx relaying the same websockets, when it runs as a contender: what a proxy hop
      // costs at best on this placement.
      const nginx = contenders.find((c) => c.id === 'nginx')
      if (nginx) {
        const viaNginx = { name: 'websocket, nginx (reference)', url: nginx.run.url.replace(/^http/, 'ws'), headers: {}, pids: nginx.run.pids }
        if (await echoes(viaNginx.url, {})) rows.push(viaNginx)
        else console.log('    through nginx: no echo, left out')
      }
      wsRows = rows.map((x) => ({ ...x, streaming: [], pingPong: [], rss: [] }))
    } catch (err) {
      console.log(`    SKIPPED: could not run: ${(err as Error).message}`)
      skipped.push({ name: 'websockets', reason: (err as Error).message })
    }
  }
  console.log()

  const settings = { connections: CONNECTIONS, duration: DURATION }
  const measure = async <T>(repin: number | undefined, run: () => Promise<T>): Promise<T> => {
    if (repin !== undefined) pinPid(p, repin, p.contender)
    try {
      return await run()
    } finally {
      if (repin !== undefined) pinPid(p, repin, p.upstream)
    }
  }
  // Warm-up (JIT, connection pools, session caches), not measured.
  const warmUp = { ...settings, duration: SHORT ? 1 : Math.min(DURATION, 2) }
  for (const c of contenders) await measure(c.repin, () => client.load(c.run.url, c.run.headers, warmUp)).catch(() => undefined)

  const wsJob = (row: (typeof wsRows)[number], mode: WsJob['mode']): WsJob => ({
    url: row.url,
    headers: row.headers,
    mode,
    connections: mode === 'streaming' ? WS.streamConnections : WS.pingPongConnections,
    window: WS.window,
    size: WS.size,
    duration: DURATION,
  })
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of contenders) {
      let sample: Sample
      try {
        sample = await measure(c.repin, () => client.load(c.run.url, c.run.headers, settings))
      } catch (err) {
        console.log(`round ${round}/${ROUNDS}  ${c.name}: the load failed: ${(err as Error).message}`)
        continue
      }
      c.samples.push(sample)
      c.rss.push(rssOfTrees(c.run.pids))
      const other = Object.entries(sample.statuses).filter(([code]) => code !== '200')
      console.log(
        `round ${round}/${ROUNDS}  ${c.name.padEnd(44)}${Math.round(sample.rps).toLocaleString('en-US').padStart(9)} req/s  p99 ${sample.p99.toFixed(2)} ms` +
          `${sample.errors ? `  ${sample.errors} errors` : ''}${other.length ? `  non-200: ${other.map(([k, v]) => `${k}:${v}`).join(' ')}` : ''}`,
      )
    }
    for (const mode of ['streaming', 'ping-pong'] as const) {
      for (const row of wsRows) {
        let result: WsResult
        try {
          result = await runWsJob(p, wsJob(row, mode))
        } catch (err) {
          console.log(`round ${round}/${ROUNDS}  ${row.name} ${mode}: failed: ${(err as Error).message}`)
          continue
        }
        ;(mode === 'streaming' ? row.streaming : row.pingPong).push(result)
        row.rss.push(rssOfTrees(row.pids))
        console.log(
          `round ${round}/${ROUNDS}  ${`${row.name}, ${mode}`.padEnd(44)}${Math.round(result.rate).toLocaleString('en-US').padStart(9)} msg/s` +
            `${mode === 'ping-pong' ? `  p99 ${result.p99.toFixed(2)} ms` : ''}${result.errors ? `  ${result.errors} errors` : ''}`,
        )
      }
    }
  }

  const measured = contenders.filter((c) => c.samples.length > 0)
  if (measured.length > 0) {
    console.log(`\nproxying a small GET (medians of ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}; RSS of the contender's processes after its runs, the largest):`)
    printHttpTable(measured)
  }
  const wsMeasured = wsRows.filter((r) => r.streaming.length > 0 && r.pingPong.length > 0)
  if (wsMeasured.length > 0) {
    console.log(
      `\nwebsockets (${WS.size}-byte messages echoed by the upstream; streaming: ${WS.streamConnections} connections with ${WS.window} messages in flight each; ` +
        `ping-pong: ${WS.pingPongConnections} connections, one message in flight each, round trips in ms):`,
    )
    printWsTable(wsMeasured)
  }
  if (skipped.length > 0) console.log()
  for (const s of skipped) console.log(`skipped: ${s.name}: ${s.reason}`)

  // Ratios: per round (the two runs closest in time), then the median of the rounds.
  const byId = new Map(measured.map((c) => [c.id, c]))
  const perRound = (a: Sample[], b: Sample[], f: (s: Sample) => number) => a.slice(0, Math.min(a.length, b.length)).map((x, i) => f(x) / f(b[i]))
  const ratios: Ratio[] = []
  const versus = (aId: Name, bId: Name, label: string, min?: number, p99Max?: number) => {
    const a = byId.get(aId)
    const b = byId.get(bId)
    if (!a || !b) return
    ratios.push({
      label,
      values: perRound(a.samples, b.samples, (s) => s.rps),
      min,
      p99: p99Max === undefined ? undefined : { values: perRound(a.samples, b.samples, (s) => s.p99), max: p99Max },
    })
  }
  versus('cookie', 'fastify', 'signed in (cookie) / bare @fastify/http-proxy, req/s', 1.3, 1)
  versus('cookie', 'apache', 'signed in (cookie) / Apache + mod_auth_openidc, req/s', 1.6)
  versus('cookie', 'nginx', 'signed in (cookie) / nginx, req/s', 0.4)
  versus('cookie', 'express', 'signed in (cookie) / Express setup, req/s', 5)
  versus('redis', 'cookie', 'signed in, Redis store / cookie store, req/s', 0.9)
  versus('workers', 'spread', `workers: auto (${cpus().length}) / one process, both free to use every core, req/s`)
  versus('public', 'fastify', 'public route / bare @fastify/http-proxy, req/s')
  versus('public', 'nginx', 'public route / nginx, req/s')
  const wsRow = (prefix: string) => wsMeasured.find((r) => r.name.startsWith(prefix))
  const [direct, through, viaNginx] = [wsRow('websocket, direct'), wsRow('websocket, Gatehouse'), wsRow('websocket, nginx')]
  if (direct && through) {
    const ws = (pick: (r: WsRow) => WsResult[]) => {
      const a = pick(through)
      const b = pick(direct)
      return a.slice(0, Math.min(a.length, b.length)).map((x, i) => x.rate / b[i].rate)
    }
    ratios.push({ label: 'websockets through Gatehouse / direct, streaming msg/s', values: ws((r) => r.streaming), min: 0.95 })
    ratios.push({
      label: 'websockets through Gatehouse / direct, ping-pong msg/s',
      values: ws((r) => r.pingPong),
      min: 0.8,
      note: `p99 round trip ${median(through.pingPong.map((x) => x.p99)).toFixed(2)} ms vs ${median(direct.pingPong.map((x) => x.p99)).toFixed(2)} ms`,
    })
  }
  if (direct && viaNginx) {
    const ref = (pick: (r: WsRow) => WsResult[]) => pick(viaNginx).map((x, i) => x.rate / pick(direct)[i].rate)
    ratios.push({ label: 'for reference: websockets through nginx / direct, streaming msg/s', values: ref((r) => r.streaming) })
    ratios.push({ label: 'for reference: websockets through nginx / direct, ping-pong msg/s', values: ref((r) => r.pingPong) })
  }
  if (ratios.length > 0) {
    console.log(`\nGatehouse's ratios (median of the per-round ratios${ROUNDS > 1 ? ', [range]' : ''}):`)
    const { met, of } = printRatios(ratios)
    if (of > 0) console.log(`  ${met} of ${of} targets met${SHORT ? ' (short run: indicative only)' : ''}`)
  }
}

class Skip extends Error {}

try {
  await main()
} finally {
  await cleanup()
}
