// Gatehouse for bench/scale.ts: configurations with many routes, starting it as its own
// process and timing it until /readyz answers 200, stopping it, and reading its resident
// memory (VmRSS) once or every 100 ms.

import type { ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { stringify } from 'yaml'
import { freePort, ROOT, spawnOn, type Placement } from './procs.js'
import { benchSignInYaml } from './session.js'

export const GATEHOUSE_BIN = path.join(ROOT, 'bin', 'gatehouse.js')

/** The host of route `i` of the generated configurations. */
export const routeHost = (i: number) => `r${i}.bench.test`

/** Route `i` of the many-route configurations: its own host, and a mix of matchers and
 *  small policies. Route `target` (the one loaded) is always the same: prefix /, identity
 *  headers, and a one-rule policy the bench user passes. */
export function routeAt(i: number, target: number, upstreamPort: number): Record<string, unknown> {
  const from = `http://${routeHost(i)}`
  const to = `http://127.0.0.1:${upstreamPort}`
  if (i === target) return { name: `r${i}`, from, to, pass_identity_headers: true, policy: [{ allow: { and: [{ groups: { has: 'staff' } }] } }] }
  switch (i % 4) {
    case 0:
      return { from, to, prefix: `/app${i % 97}/`, policy: [{ allow: { or: [{ groups: { has: `team${i % 50}` } }] } }] }
    case 1:
      return { from, to, path: `/exact/${i}`, policy: [{ allow: { and: [{ email: { is: `user${i}@example.com` } }] } }] }
    case 2:
      return {
        from,
        to,
        prefix: '/api/',
        pass_identity_headers: true,
        policy: [{ deny: { and: [{ http_path: { starts_with: '/api/admin' } }] } }, { allow: { and: [{ domain: { is: 'example.com' } }] } }],
      }
    default:
      return { from, to, prefix: '/', allow_public_unauthenticated_access: true }
  }
}

export interface ScaleConfig {
  dir: string
  file: string
  port: number
  routes: number
}

/** Writes config.yaml and policies/routes-*.yaml (1,000 routes a file: a file may hold
 *  at most 1 MiB) with the routes at `indices`. Access and decision logs are off, as in
 *  the main bench. */
export async function writeRoutesConfig(dir: string, indices: number[], target: number, upstreamPort: number): Promise<ScaleConfig> {
  mkdirSync(path.join(dir, 'policies'), { recursive: true })
  const port = await freePort()
  const file = path.join(dir, 'config.yaml')
  writeFileSync(file, `address: 127.0.0.1:${port}\nlog_level: warn\nauthorize_log_fields: []\nshutdown_timeout: 1s\n${benchSignInYaml()}`)
  for (let from = 0; from < indices.length; from += 1000) {
    const routes = indices.slice(from, from + 1000).map((i) => routeAt(i, target, upstreamPort))
    writeFileSync(path.join(dir, 'policies', `routes-${String(from / 1000).padStart(3, '0')}.yaml`), stringify({ routes }))
  }
  return { dir, file, port, routes: indices.length }
}

export interface RunningGatehouse {
  child: ChildProcess
  pid: number
  port: number
  /** From spawn until /readyz first answered 200. */
  readyMs: number
}

/** Starts `node bin/gatehouse.js serve --config FILE` (or another entry: dist/cli.js) on the contender's core and waits
 *  for /readyz to answer 200, polling every 10 ms. */
export async function serveGatehouse(p: Placement, file: string, port: number, entry = GATEHOUSE_BIN): Promise<RunningGatehouse> {
  const started = performance.now()
  const child = spawnOn(p, p.contender, process.execPath, [entry, 'serve', '--config', file])
  const readyMs = (await waitReady(port, child)) - started
  return { child, pid: child.pid!, port, readyMs }
}

function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', agent: false, timeout: 2000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', () => resolve(0))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

/** The time (performance.now()) at which /readyz first answered 200. */
export async function waitReady(port: number, child: ChildProcess, limitMs = 60_000): Promise<number> {
  const deadline = performance.now() + limitMs
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Gatehouse exited (${child.exitCode ?? child.signalCode}) before it was ready`)
    if ((await readyz(port)) === 200) return performance.now()
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`Gatehouse on port ${port} was not ready after ${limitMs / 1000} s`)
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** A pid's resident memory in bytes (VmRSS of /proc/<pid>/status); 0 once it is gone. */
export function vmRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

export interface RssTrace {
  start: number
  peak: number
  end: number
  samples: number
}

/** Reads resident memory (`read`, e.g. () => vmRss(pid)) every `everyMs` until stopped:
 *  the first reading, the largest, the last. */
export function sampleRss(read: () => number, everyMs = 100): { stop: () => RssTrace } {
  const start = read()
  let peak = start
  let samples = 1
  const timer = setInterval(() => {
    peak = Math.max(peak, read())
    samples++
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      const end = read()
      return { start, peak: Math.max(peak, end), end, samples: samples + 1 }
    },
  }
}

export const mib = (bytes: number) => bytes / 1024 / 1024

/** The soft and hard limits on open files of a process (/proc/<pid>/limits). */
export function openFileLimits(pid: number): { soft: number; hard: number } {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Infinity : Number(s))
  return { soft: n(m?.[1]), hard: n(m?.[2]) }
}

/** Per core, from /proc/stat: time spent running something, and all time (clock ticks). */
export function coreTimes(): { busy: number; total: number }[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((line) => /^cpu\d+ /.test(line))
    .map((line) => {
      const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number)
      const busy = user + nice + system + irq + softirq
      return { busy, total: busy + idle + iowait + (steal || 0) }
    })
}

/** How busy each core was since `before` (0 to 1). */
export function coresBusySince(before: { busy: number; total: number }[]): number[] {
  return coreTimes().map((now, i) => (now.busy - before[i].busy) / Math.max(1, now.total - before[i].total))
}
