// Processes of the bench: where each runs (CPU pinning), starting and stopping them,
// free ports, waiting for a listener, and the resident memory of a process tree.

import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { cpus } from 'node:os'
import path from 'node:path'

export const ROOT = path.resolve(import.meta.dirname, '..')

/** Whether a command is installed (PATH, or the sbin directories a non-root PATH lacks). */
export function has(cmd: string): boolean {
  return which(cmd) !== undefined
}

export function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) {
      try {
        execFileSync('test', ['-x', path.join(dir, cmd)])
        return path.join(dir, cmd)
      } catch {}
    }
    return undefined
  }
}

/** Where things run. With taskset and two cores or more: the load client on core 0,
 *  the contender alone on core 1, the upstream on core 2 when there is one, else on
 *  core 0 beside the client. Without: wherever the OS puts them. */
export interface Placement {
  readonly pinned: boolean
  readonly client: number
  readonly contender: number
  readonly upstream: number
}

export function placement(): Placement {
  const n = cpus().length
  const pinned = n >= 2 && has('taskset')
  return { pinned, client: 0, contender: 1, upstream: n >= 3 ? 2 : 0 }
}

export function describePlacement(p: Placement): string {
  if (!p.pinned) return 'no CPU pinning (needs taskset and 2 cores or more)'
  const upstream = p.upstream === p.client ? `core ${p.upstream}, beside the load client` : `core ${p.upstream}`
  return `load client on core ${p.client}, each contender alone on core ${p.contender} (all its processes and threads), upstream on ${upstream}`
}

/** Moves a running process, all its threads, to one core (and everything it starts later). */
export function pinPid(p: Placement, pid: number, core: number): void {
  if (!p.pinned) return
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' })
}

/** A contender, started: where to load it, with what headers, and its processes. */
export interface Running {
  url: string
  headers: Record<string, string>
  pids: number[]
}

const children = new Set<ChildProcess>()

/** Every core of the machine, as taskset names them: children otherwise inherit the
 *  bench's own pinning to the client's core. */
export const allCores = () => `0-${cpus().length - 1}`

/** Spawns `cmd` on `core` (a core, or a taskset list such as 0-3; through taskset, which
 *  execs it: the pid is the command's). */
export function spawnOn(p: Placement, core: number | string | undefined, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const [file, argv] = p.pinned && core !== undefined ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]
  const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'inherit'], ...options })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** A bench script (TypeScript, through tsx) on `core` that sends {port} over IPC once it listens. */
export function startScript(p: Placement, core: number | undefined, script: string, args: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnOn(p, core, process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, port: m.port }))
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
    child.once('error', reject)
  })
}

/** Stops every process the bench started (SIGTERM, then SIGKILL after a second). */
export async function stopAll(): Promise<void> {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null)
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL')
            resolve()
          }, 1000)
          child.once('exit', () => {
            clearTimeout(timer)
            resolve()
          })
          child.kill('SIGTERM')
        }),
    ),
  )
}

/** Asks the OS for a free loopback port (for servers configured by file, not port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** Resolves once something answers HTTP on the port (any status); rejects after ~10 s,
 *  or as soon as `child` exits. */
export async function waitForHttp(port: number, child?: ChildProcess, what = `port ${port}`): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it listened`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ping`, { redirect: 'manual', signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      return
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listening on ${what}`)
}

/** Resolves once a TCP connection to the port succeeds (servers that do not speak HTTP). */
export async function waitForTcp(port: number, child?: ChildProcess, what = `port ${port}`): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it listened`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listening on ${what}`)
}

/** Resident memory (bytes) of the processes and all their descendants (nginx and Apache
 *  workers, for instance). */
export function rssOfTrees(pids: readonly number[]): number {
  const parents = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = parents.get(ppid) ?? []
      list.push(Number(entry))
      parents.set(ppid, list)
    } catch {}
  }
  let total = 0
  const seen = new Set<number>()
  const visit = (pid: number) => {
    if (seen.has(pid)) return
    seen.add(pid)
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) total += Number(m[1]) * 1024
    } catch {}
    for (const child of parents.get(pid) ?? []) visit(child)
  }
  for (const pid of pids) visit(pid)
  return total
}

/** A version string from a command's output (stdout and stderr), for the report. */
export function commandVersion(cmd: string, args: string[], pattern: RegExp): string {
  const out = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 })
  const m = pattern.exec(`${out.stdout ?? ''}\n${out.stderr ?? ''}`)
  return m ? m[1] : '?'
}

/** The installed version of an npm package. */
export function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}
