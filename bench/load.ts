// The HTTP load client, the same for every contender: wrk when installed (on the client's
// core, with a script that counts every status), else autocannon in this process.

import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import { commandVersion, has, packageVersion, ROOT, type Placement } from './procs.js'

const run = promisify(execFile)

export interface Sample {
  rps: number
  /** Milliseconds. */
  p50: number
  p99: number
  requests: number
  /** Socket errors and timeouts (not HTTP statuses: those are in `statuses`). */
  errors: number
  /** Every status code answered, with its count. */
  statuses: Record<string, number>
}

export interface LoadSettings {
  connections: number
  /** Seconds. */
  duration: number
}

export type Loader = (url: string, headers: Record<string, string>, settings: LoadSettings) => Promise<Sample>

/** wrk when installed (or asked for), else autocannon. */
export function loader(p: Placement, wanted?: string): { name: string; load: Loader } {
  if (wanted !== undefined && wanted !== 'wrk' && wanted !== 'autocannon') throw new Error(`--client: wrk or autocannon, not ${wanted}`)
  if (wanted === 'wrk' && !has('wrk')) throw new Error('--client wrk: wrk is not installed')
  if (wanted !== 'autocannon' && has('wrk'))
    return { name: `wrk ${commandVersion('wrk', ['-v'], /wrk (?:debian\/)?(\S+)/)}`, load: (url, headers, settings) => loadWithWrk(p, url, headers, settings) }
  return { name: `autocannon ${packageVersion('autocannon')}${wanted ? '' : ' (no wrk installed)'}`, load: loadWithAutocannon }
}

interface WrkResult {
  requests: number
  duration_us: number
  p50_us: number
  p99_us: number
  errors: { connect: number; read: number; write: number; timeout: number }
  statuses: Record<string, number>
}

async function loadWithWrk(p: Placement, url: string, headers: Record<string, string>, settings: LoadSettings): Promise<Sample> {
  const args = [
    '-t1',
    `-c${settings.connections}`,
    `-d${settings.duration}s`,
    '-s',
    path.join(ROOT, 'bench', 'statuses.lua'),
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
  ]
  const [file, argv] = p.pinned ? ['taskset', ['-c', String(p.client), 'wrk', ...args]] : ['wrk', args]
  const { stdout } = await run(file, argv, { encoding: 'utf8', timeout: (settings.duration + 30) * 1000 })
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '))
  if (!line) throw new Error(`unexpected wrk output:\n${stdout}`)
  const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult
  return {
    rps: r.requests / (r.duration_us / 1e6),
    p50: r.p50_us / 1000,
    p99: r.p99_us / 1000,
    requests: r.requests,
    errors: r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
    statuses: r.statuses,
  }
}

async function loadWithAutocannon(url: string, headers: Record<string, string>, settings: LoadSettings): Promise<Sample> {
  const result = await autocannon({ url, connections: settings.connections, duration: settings.duration, headers })
  const statuses: Record<string, number> = {}
  const stats = (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}
  for (const [code, { count }] of Object.entries(stats)) statuses[code] = count
  return {
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    statuses,
  }
}
