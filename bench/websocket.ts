// Websockets through a contender: the same client (bench/ws-load.ts, on the client's
// core) against the upstream directly and through Gatehouse, streaming and ping-pong.

import WebSocket from 'ws'
import { ROOT, spawnOn, type Placement } from './procs.js'
import path from 'node:path'

export interface WsJob {
  url: string
  headers: Record<string, string>
  mode: 'streaming' | 'ping-pong'
  connections: number
  /** Messages in flight per connection when streaming. */
  window: number
  /** Bytes per message. */
  size: number
  /** Seconds. */
  duration: number
}

export interface WsResult {
  messages: number
  /** Messages (echoes received) per second. */
  rate: number
  /** Round trip in milliseconds (ping-pong only; 0 when streaming). */
  p50: number
  p99: number
  errors: number
}

export function runWsJob(p: Placement, job: WsJob): Promise<WsResult> {
  const child = spawnOn(p, p.client, process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'ws-load.ts'), JSON.stringify(job)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    let result: WsResult | undefined
    child.once('message', (m: WsResult) => (result = m))
    child.once('exit', (code) => {
      if (result) resolve(result)
      else reject(new Error(`the websocket client exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`))
    })
  })
}

/** The handshake's answer: 101 when it opened, else the HTTP status (0: no answer). */
export function handshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false })
    ws.once('open', () => {
      ws.terminate()
      resolve(101)
    })
    ws.once('unexpected-response', (req, res) => {
      req.destroy()
      resolve(res.statusCode ?? 0)
    })
    ws.once('error', () => resolve(0))
  })
}

/** One message out and its echo back, as a check that the path really echoes. */
export function echoes(url: string, headers: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false })
    const timer = setTimeout(() => {
      ws.terminate()
      resolve(false)
    }, 5000)
    ws.once('open', () => ws.send('bench echo check'))
    ws.once('message', (data) => {
      clearTimeout(timer)
      ws.terminate()
      resolve(data.toString() === 'bench echo check')
    })
    ws.once('error', () => {
      clearTimeout(timer)
      resolve(false)
    })
  })
}
