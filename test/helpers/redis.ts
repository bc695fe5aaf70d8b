// A real redis-server (Debian's package) on 127.0.0.1 and a free port, for one test:
// no persistence, stopped at teardown. stop() and start() again simulate an outage.

import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import type { Teardown } from './upstream.js'

export interface RunningRedis {
  port: number
  url: string
  /** Stops the server (an outage); start() brings it back on the same port, empty. */
  stop(): Promise<void>
  start(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (d) => {
      socket.destroy()
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()))
    })
    socket.once('error', () => resolve(false))
  })
}

/** `password`: the server requires it (requirepass). */
export async function redis(t: Teardown, options: { password?: string } = {}): Promise<RunningRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    const auth = options.password === undefined ? [] : ['--requirepass', options.password]
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...auth], {
      stdio: 'ignore',
    })
    const until = Date.now() + 5000
    while (!(await ping(port))) {
      if (Date.now() > until) throw new Error('redis-server did not start (is it installed? npm test installs it)')
      await new Promise((r) => setTimeout(r, 25))
    }
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null) return
    const exited = new Promise((r) => running.once('exit', r))
    running.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(stop)
  return { port, url: `redis://127.0.0.1:${port}/0`, stop, start }
}
