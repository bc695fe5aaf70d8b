// Gatehouse as a contender: its own process on the contender's core, in front of the
// bench upstream, with two routes: /public/ open to anyone, and everything else (plain
// requests and websockets) behind the 20-rule policy of bench/policy.ts for a signed-in
// user, with identity headers and the identity assertion on every request. The session
// store is the cookie, or Redis (a real redis-server on a free loopback port, on the
// contender's core too: it is part of what that contender runs).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'
import { benchPolicy } from './policy.js'
import { allCores, freePort, ROOT, spawnOn, waitForHttp, waitForTcp, which, type Placement } from './procs.js'
import { benchRedisSessionCookie, benchSessionCookie, benchSignInYaml } from './session.js'

export interface GatehouseInstance {
  port: number
  /** The Cookie header of the signed-in bench user. */
  cookie: string
  pids: number[]
}

export function redisMissing(): string | undefined {
  return which('redis-server') ? undefined : 'redis-server is not installed (scripts/ensure-bench.sh installs it)'
}

export interface GatehouseOptions {
  /** `workers` in its config (default 1). */
  workers?: number
  /** Where it runs: the contender's core (default), or every core (`all`) to show what
   *  workers gain. */
  cores?: 'contender' | 'all'
  /** Another build's dist/cli.js, to compare two versions of Gatehouse (default: this one's). */
  cli?: string
  /** Flags for node itself, such as --cpu-prof (which NODE_OPTIONS does not take). */
  nodeFlags?: string[]
}

export async function startGatehouse(
  p: Placement,
  work: string,
  upstreamPort: number,
  store: 'cookie' | 'redis',
  options: GatehouseOptions = {},
): Promise<GatehouseInstance> {
  const workers = options.workers ?? 1
  const core = options.cores === 'all' ? allCores() : p.contender
  const dir = path.join(
    work,
    `gatehouse-${store}-${workers}-${options.cores ?? 'contender'}-${options.cli === undefined ? 'this' : path.basename(path.dirname(path.dirname(options.cli)))}`,
  )
  mkdirSync(path.join(dir, 'policies'), { recursive: true })
  const pids: number[] = []
  let redisUrl: string | undefined
  if (store === 'redis') {
    const redisPort = await freePort()
    const redis = spawnOn(p, core, which('redis-server')!, [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ])
    await waitForTcp(redisPort, redis, 'redis-server')
    pids.push(redis.pid!)
    redisUrl = `redis://127.0.0.1:${redisPort}/0`
  }
  const port = await freePort()
  // Access logs are off (log_level: warn, no authorize log fields), as for the others.
  writeFileSync(
    path.join(dir, 'config.yaml'),
    `address: 127.0.0.1:${port}
log_level: warn
authorize_log_fields: []
${workers > 1 ? `workers: ${workers}\n` : ''}${benchSignInYaml(redisUrl)}`,
  )
  const routes = [
    { from: `http://127.0.0.1:${port}`, prefix: '/public/', to: `http://127.0.0.1:${upstreamPort}`, allow_public_unauthenticated_access: true },
    {
      from: `http://127.0.0.1:${port}`,
      to: `http://127.0.0.1:${upstreamPort}`,
      pass_identity_headers: true,
      allow_websockets: true,
      policy: benchPolicy(0),
    },
  ]
  writeFileSync(path.join(dir, 'policies', 'bench.yaml'), stringify({ routes }))
  // The production build (`npm run build`, as the Docker image runs it), not the
  // TypeScript sources through tsx, whose helpers cost several percent per request.
  const cli = options.cli ?? path.join(ROOT, 'dist/cli.js')
  if (!existsSync(cli)) throw new Error(`${cli} is missing: npm run build first (npm run bench does)`)
  const child = spawnOn(p, core, process.execPath, [...(options.nodeFlags ?? []), cli, 'serve', '--config', path.join(dir, 'config.yaml')])
  pids.unshift(child.pid!)
  await waitForHttp(port, child, `Gatehouse (${store} store)`)
  // The listening message comes from the first worker: wait for the others too.
  if (workers > 1) await new Promise((r) => setTimeout(r, 1500))
  const cookie = redisUrl ? await benchRedisSessionCookie(redisUrl) : benchSessionCookie()
  return { port, cookie, pids }
}
