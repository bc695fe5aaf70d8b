// npm run soak: a bounded load test on loopback only. Gatehouse (its own process) in
// front of a Node upstream, signed-in traffic through a policy: GETs, POSTs with bodies,
// public requests and websockets (open, echo, close), from a fixed number of workers for
// a fixed time. It reports unexpected answers (there must be none), p99 latency, and
// Gatehouse's resident memory as it went (no steady growth).
//
//   npm run soak -- --duration 180 --workers 32

import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import WebSocket, { WebSocketServer } from 'ws'
import { BENCH_SIGN_IN_YAML, benchSessionCookie } from './session.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    workers: { type: 'string', default: '24' },
  },
})
const DURATION_MS = Number(values.duration) * 1000
const WORKERS = Number(values.workers)
const ROOT = path.resolve(import.meta.dirname, '..')
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-soak-'))

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** The upstream: echoes bodies, answers a small text, and echoes websocket messages. */
async function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => res.end(chunks.length > 0 ? Buffer.concat(chunks) : 'hello\n'))
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(m))))
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : 0
}

async function main() {
  const upstream = await startUpstream()
  const upstreamPort = (upstream.address() as net.AddressInfo).port
  const port = await freePort()
  mkdirSync(path.join(work, 'policies'))
  writeFileSync(
    path.join(work, 'config.yaml'),
    `address: 127.0.0.1:${port}
log_level: warn
${BENCH_SIGN_IN_YAML}routes:
  - from: http://app.test
    to: http://127.0.0.1:${upstreamPort}
    allow_websockets: true
    pass_identity_headers: true
    max_body_size: 64KiB
    policy:
      - allow: { and: [{ groups: { has: staff } }, { email: { ends_with: "@example.com" } }] }
  - from: http://public.test
    to: http://127.0.0.1:${upstreamPort}
    allow_public_unauthenticated_access: true
`,
  )
  const gatehouse = spawn(process.execPath, [path.join(ROOT, 'bin/gatehouse.js'), 'serve', '--config', path.join(work, 'config.yaml')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const cookie = benchSessionCookie()
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: WORKERS })
  for (let i = 0; ; i++) {
    try {
      const res = await pool.request({ path: '/ping', method: 'GET' })
      await res.body.dump()
      break
    } catch {
      if (i > 200) throw new Error('Gatehouse did not start')
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  const latencies: number[] = []
  const unexpected = new Map<string, number>()
  let requests = 0
  let sockets = 0
  const note = (what: string) => unexpected.set(what, (unexpected.get(what) ?? 0) + 1)
  const body = Buffer.alloc(8 * 1024, 'p')

  const httpOnce = async (kind: 'get' | 'post' | 'public') => {
    const started = performance.now()
    try {
      const res = await pool.request({
        path: kind === 'post' ? '/submit' : '/',
        method: kind === 'post' ? 'POST' : 'GET',
        headers: {
          host: kind === 'public' ? 'public.test' : 'app.test',
          ...(kind === 'public' ? {} : { cookie }),
          ...(kind === 'post' ? { 'content-type': 'application/octet-stream' } : {}),
        },
        body: kind === 'post' ? body : undefined,
      })
      const answer = await res.body.arrayBuffer()
      if (res.statusCode !== 200) note(`${kind} ${res.statusCode}`)
      else if (kind === 'post' && answer.byteLength !== body.length) note('post body mismatch')
    } catch (err) {
      note(`${kind} ${(err as { code?: string }).code ?? (err as Error).message}`)
    }
    latencies.push(performance.now() - started)
    requests++
  }

  const websocketOnce = () =>
    new Promise<void>((resolve) => {
      const started = performance.now()
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: 'app.test', cookie } })
      const done = (problem?: string) => {
        if (problem) note(`websocket ${problem}`)
        latencies.push(performance.now() - started)
        sockets++
        ws.removeAllListeners()
        ws.on('error', () => {})
        ws.terminate()
        resolve()
      }
      const timer = setTimeout(() => done('timeout'), 5000)
      ws.on('open', () => ws.send('ping'))
      ws.on('message', (m) => {
        clearTimeout(timer)
        done(String(m) === 'ping' ? undefined : 'echo mismatch')
      })
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer)
        done(`status ${res.statusCode}`)
      })
      ws.on('error', (err) => {
        clearTimeout(timer)
        done((err as { code?: string }).code ?? err.message)
      })
    })

  const worker = async (until: number) => {
    while (Date.now() < until) {
      const roll = Math.random()
      if (roll < 0.7) await httpOnce('get')
      else if (roll < 0.8) await httpOnce('post')
      else if (roll < 0.9) await httpOnce('public')
      else await websocketOnce()
    }
  }

  // Warm up, then measure memory from a settled start.
  await Promise.all(Array.from({ length: WORKERS }, () => worker(Date.now() + 5000)))
  latencies.length = 0
  unexpected.clear()
  requests = 0
  sockets = 0
  const rss: { at: number; kib: number }[] = [{ at: 0, kib: rssKiB(gatehouse.pid!) }]
  const started = Date.now()
  const sampler = setInterval(() => rss.push({ at: Math.round((Date.now() - started) / 1000), kib: rssKiB(gatehouse.pid!) }), 10_000)
  await Promise.all(Array.from({ length: WORKERS }, () => worker(started + DURATION_MS)))
  clearInterval(sampler)
  rss.push({ at: Math.round((Date.now() - started) / 1000), kib: rssKiB(gatehouse.pid!) })

  latencies.sort((a, b) => a - b)
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0
  const errors = [...unexpected.values()].reduce((a, b) => a + b, 0)
  console.log(`soak: ${DURATION_MS / 1000}s, ${WORKERS} workers, loopback, Node ${process.version}`)
  console.log(`  requests ${requests}, websockets ${sockets} (${Math.round((requests + sockets) / (DURATION_MS / 1000))}/s)`)
  console.log(`  unexpected answers: ${errors}${errors ? ` ${JSON.stringify(Object.fromEntries(unexpected))}` : ''}`)
  console.log(`  latency p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms, max ${p(1).toFixed(2)} ms`)
  console.log(`  Gatehouse RSS (MiB): ${rss.map((s) => `${s.at}s ${(s.kib / 1024).toFixed(1)}`).join(', ')}`)
  console.log(`  RSS start ${(rss[0].kib / 1024).toFixed(1)} MiB, end ${(rss.at(-1)!.kib / 1024).toFixed(1)} MiB`)
  await pool.close()
  gatehouse.kill('SIGTERM')
  upstream.closeAllConnections()
  upstream.close()
  if (errors > 0) process.exitCode = 1
}

try {
  await main()
} finally {
  rmSync(work, { recursive: true, force: true })
}
