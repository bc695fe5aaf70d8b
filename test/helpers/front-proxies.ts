// Real front proxies (Debian's nginx and Caddy) on 127.0.0.1 that ask Gatehouse through
// forward-auth, configured from the shipped examples in examples/forward-auth/ with only
// hosts and ports put in, so the examples stay the configs that were tested.
//
//   const proxy = await frontProxy(t, 'nginx', { host: 'app.test', gatehouse: gh.port, app: app.port })
//   await request(proxy.port, { path: '/', headers: { host: 'app.test' } })
//
// Everything either server writes (pid, logs, temp files, Caddy's data and config dirs)
// stays in one temporary directory, removed at teardown with the process.

import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from './client.js'
import { closedPort, type Teardown } from './upstream.js'

export type FrontProxyKind = 'nginx' | 'caddy'

export const FRONT_PROXIES: readonly FrontProxyKind[] = ['nginx', 'caddy']

export interface FrontProxyOptions {
  /** The app's host name: the example's app.example.com becomes this. */
  host: string
  /** Gatehouse's port on 127.0.0.1. */
  gatehouse: number
  /** The app's (upstream's) port on 127.0.0.1. */
  app: number
}

export interface RunningFrontProxy {
  kind: FrontProxyKind
  port: number
  /** The config the server runs, as rendered from the example. */
  config: string
  /** What the server has logged so far (error log for nginx, stderr for Caddy). */
  log(): string
}

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/forward-auth')

const BINARIES: Record<FrontProxyKind, string> = { nginx: '/usr/sbin/nginx', caddy: '/usr/bin/caddy' }

/** Replaces each `from` with its `to`; a `from` the example no longer contains is an
 *  error, so an edited example cannot silently leave the test running something else. */
export function render(file: string, replacements: readonly (readonly [string, string])[]): string {
  let text = readFileSync(path.join(EXAMPLES, file), 'utf8')
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`examples/forward-auth/${file} no longer contains ${JSON.stringify(from)}: update test/helpers/front-proxies.ts`)
    text = text.split(from).join(to)
  }
  return text
}

function requireBinary(kind: FrontProxyKind): string {
  const binary = BINARIES[kind]
  try {
    accessSync(binary, constants.X_OK)
  } catch {
    // A failure, not a skip: these tests are what backs the README's "tested with".
    throw new Error(`${binary} is missing: install Debian's ${kind} package (scripts/ensure-system.sh does, as root)`)
  }
  return binary
}

/** The nginx example inside a main config whose every path is in `dir`. */
function nginxConfig(dir: string, port: number, options: FrontProxyOptions): string {
  const site = render('nginx.conf', [
    ['server gatehouse:8080;', `server 127.0.0.1:${options.gatehouse};`],
    ['server app:3000;', `server 127.0.0.1:${options.app};`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
    ['server_name app.example.com;', `server_name ${options.host};`],
  ])
  writeFileSync(path.join(dir, 'site.conf'), site)
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 128; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`
}

/** The Caddy example with the global options a test needs: no admin endpoint, no
 *  certificates, listening on 127.0.0.1 only. */
function caddyConfig(port: number, options: FrontProxyOptions): string {
  const site = render('Caddyfile', [
    ['gatehouse:8080', `127.0.0.1:${options.gatehouse}`],
    ['app:3000', `127.0.0.1:${options.app}`],
    ['app.example.com {', `http://${options.host}:${port} {`],
  ])
  return `{
	admin off
	auto_https off
	default_bind 127.0.0.1
}

${site}`
}

/** Waits until the server answers HTTP on `port`, failing early if it exits. */
async function waitAnswering(child: ChildProcess, port: number, host: string, log: () => string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before answering:\n${log()}`)
    }
    try {
      await request(port, { path: '/.gatehouse/ready-probe', headers: { host } })
      return
    } catch {
      // Not listening yet.
    }
    if (Date.now() > until) throw new Error(`did not answer on port ${port} within ${ms} ms:\n${log()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts `kind` in front of Gatehouse and the app, for one test. */
export async function frontProxy(t: Teardown, kind: FrontProxyKind, options: FrontProxyOptions): Promise<RunningFrontProxy> {
  const binary = requireBinary(kind)
  const dir = mkdtempSync(path.join(tmpdir(), `gatehouse-${kind}-`))
  // nginx started as root runs its workers as nobody; they need to pass through here to
  // reach the temp directories the master creates for them.
  chmodSync(dir, 0o711)
  const port = await closedPort()
  let stderr = ''
  let child: ChildProcess
  let config: string
  let log: () => string
  if (kind === 'nginx') {
    config = nginxConfig(dir, port, options)
    const confFile = path.join(dir, 'nginx.conf')
    writeFileSync(confFile, config)
    // -e: messages from before the config is read go to our log too, not to the
    // packaged /var/log/nginx.
    child = spawn(binary, ['-e', path.join(dir, 'error.log'), '-p', `${dir}/`, '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] })
    log = () => {
      let text = stderr
      try {
        text += readFileSync(path.join(dir, 'error.log'), 'utf8')
      } catch {
        // Not written yet.
      }
      return text
    }
  } else {
    config = caddyConfig(port, options)
    const confFile = path.join(dir, 'Caddyfile')
    writeFileSync(confFile, config)
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
    }
    child = spawn(binary, ['run', '--config', confFile, '--adapter', 'caddyfile'], { stdio: ['ignore', 'ignore', 'pipe'], env, cwd: dir })
    log = () => stderr
  }
  let spawnError: Error | undefined
  child.on('error', (err) => {
    spawnError = err
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // nginx: SIGTERM is a fast shutdown of master and workers; Caddy stops on it too.
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(killer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)
  try {
    await waitAnswering(child, port, options.host, log)
  } catch (err) {
    throw new Error(`${kind} (${binary}): ${spawnError?.message ?? (err as Error).message}`)
  }
  return { kind, port, config, log }
}
