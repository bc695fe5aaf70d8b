// npm run bench: Gatehouse side by side with a bare @fastify/http-proxy and (when
// installed) nginx, in front of the same upstream, loaded in turn and interleaved with
// the same client and settings. Loopback only, bounded in time.
//
//   npm run bench -- --duration 5 --rounds 3 --connections 50   (--skip-proxy: micro-benchmarks only)

import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import net from 'node:net'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { benchCompile, benchDecisions } from './policy.js'
import { benchRouteTable } from './route-table.js'
import { BENCH_SIGN_IN_YAML, benchSessionCookie } from './session.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    'skip-proxy': { type: 'boolean', default: false },
  },
})
const DURATION = Number(values.duration)
const ROUNDS = Number(values.rounds)
const CONNECTIONS = Number(values.connections)
const ROOT = path.resolve(import.meta.dirname, '..')
const children: ChildProcess[] = []
const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'))

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function startForked(script: string, args: string[] = []): Promise<number> {
  const child = fork(path.join(ROOT, script), args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port))
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ping`)
      if (res.status < 500) return
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listening on ${port}`)
}

/** Two routes on one Gatehouse: /public/ open to anyone, and everything else behind a
 *  policy that needs a signed-in member of a group, with identity headers: the path
 *  users take. The IdP has explicit endpoints, so nothing is discovered. */
async function startGatehouse(upstreamPort: number, port: number): Promise<void> {
  const dir = path.join(work, 'gatehouse')
  mkdirSync(path.join(dir, 'policies'), { recursive: true })
  // Access logs are off (log_level: warn), as they are for the other contenders.
  writeFileSync(
    path.join(dir, 'config.yaml'),
    `address: 127.0.0.1:${port}
log_level: warn
authorize_log_fields: []
${BENCH_SIGN_IN_YAML}`,
  )
  writeFileSync(
    path.join(dir, 'policies', 'bench.yaml'),
    `routes:
  - from: http://127.0.0.1:${port}
    prefix: /public/
    to: http://127.0.0.1:${upstreamPort}
    allow_public_unauthenticated_access: true
  - from: http://127.0.0.1:${port}
    to: http://127.0.0.1:${upstreamPort}
    pass_identity_headers: true
    policy:
      - allow:
          and:
            - groups: { has: staff }
            - email: { ends_with: "@example.com" }
      - deny:
          or:
            - http_path: { starts_with: /admin }
`,
  )
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/gatehouse.js'), 'serve', '--config', path.join(dir, 'config.yaml')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  await waitForPort(port)
}

async function startNginx(upstreamPort: number, port: number): Promise<void> {
  const dir = path.join(work, 'nginx')
  mkdirSync(dir, { recursive: true })
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; }
  }
}
`
  writeFileSync(path.join(dir, 'nginx.conf'), conf)
  const child = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  await waitForPort(port)
}

interface Sample {
  rps: number
  p50: number
  p99: number
}

async function loadWithWrk(url: string, headers: Record<string, string> = {}): Promise<Sample> {
  const extra = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', ...extra, url], { encoding: 'utf8' })
  const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }
  const field = (re: RegExp) => {
    const m = re.exec(out)
    if (!m) throw new Error(`unexpected wrk output:\n${out}`)
    return m[1]
  }
  const ms = (text: string) => {
    const m = /^([\d.]+)(us|ms|s|m)$/.exec(text)
    if (!m) throw new Error(`unexpected wrk latency ${text}`)
    return Number(m[1]) * UNIT_MS[m[2]]
  }
  return {
    rps: Number(field(/Requests\/sec:\s+([\d.]+)/)),
    p50: ms(field(/^\s*50%\s+(\S+)/m)),
    p99: ms(field(/^\s*99%\s+(\S+)/m)),
  }
}

async function loadWithAutocannon(url: string, headers: Record<string, string> = {}): Promise<Sample> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers })
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 }
}

/** Asks the OS for a free loopback port (for servers configured by file, not port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main() {
  const loader = has('wrk') ? 'wrk' : 'autocannon'
  const load = loader === 'wrk' ? loadWithWrk : loadWithAutocannon
  console.log(`Gatehouse bench: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`)
  console.log(`client ${loader}, ${CONNECTIONS} connections, ${DURATION}s per run, ${ROUNDS} interleaved rounds\n`)

  console.log('route table:')
  console.log(await benchRouteTable())
  console.log('\npolicy engine (one core):')
  console.log(benchDecisions())
  console.log(benchCompile())
  console.log()
  if (values['skip-proxy']) return

  const upstreamPort = await startForked('bench/upstream.ts')
  const contenders: { name: string; url: string; headers?: Record<string, string> }[] = [
    { name: 'upstream (direct)', url: `http://127.0.0.1:${upstreamPort}/` },
  ]
  const bare = await startForked('bench/bare-proxy.ts', [String(upstreamPort)])
  contenders.push({ name: '@fastify/http-proxy', url: `http://127.0.0.1:${bare}/` })
  if (has('nginx')) {
    const nginxPort = await freePort()
    await startNginx(upstreamPort, nginxPort)
    contenders.push({ name: 'nginx', url: `http://127.0.0.1:${nginxPort}/` })
  } else {
    console.log('(nginx not installed: apt-get install nginx-light to include it)')
  }
  const gatehousePort = await freePort()
  await startGatehouse(upstreamPort, gatehousePort)
  contenders.push({ name: 'Gatehouse public', url: `http://127.0.0.1:${gatehousePort}/public/` })
  const signedIn = { cookie: benchSessionCookie() }
  // Checked once before measuring: a cookie that did not open would bench the sign-in redirect.
  const probe = await fetch(`http://127.0.0.1:${gatehousePort}/`, { headers: signedIn, redirect: 'manual' })
  if (probe.status !== 200) throw new Error(`the bench session was not accepted (status ${probe.status})`)
  contenders.push({ name: 'Gatehouse signed in', url: `http://127.0.0.1:${gatehousePort}/`, headers: signedIn })

  // Warm-up: JIT and connection pools, not measured.
  for (const c of contenders) await load(c.url, c.headers).catch(() => undefined)

  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of contenders) samples.get(c.name)!.push(await load(c.url, c.headers))
  }

  const summary = contenders.map((c) => {
    const s = samples.get(c.name)!
    return { name: c.name, rps: median(s.map((x) => x.rps)), p50: median(s.map((x) => x.p50)), p99: median(s.map((x) => x.p99)) }
  })
  console.log('proxying a small GET (medians of the rounds):')
  console.log(`  ${'contender'.padEnd(22)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}`)
  for (const r of summary) {
    console.log(`  ${r.name.padEnd(22)}${r.rps.toFixed(0).padStart(10)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(10)}`)
  }
  console.log()
  for (const gatehouse of summary.filter((r) => r.name.startsWith('Gatehouse'))) {
    for (const r of summary) {
      if (r.name.startsWith('Gatehouse') || r.name.startsWith('upstream')) continue
      console.log(`  ${gatehouse.name} / ${r.name}: ${(gatehouse.rps / r.rps).toFixed(2)}x req/s, p99 ${(gatehouse.p99 / r.p99).toFixed(2)}x`)
    }
  }
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGTERM')
  rmSync(work, { recursive: true, force: true })
}
