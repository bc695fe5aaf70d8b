// The websocket load client (the `ws` package), its own process on the client's core.
// Started by run.ts with one JSON argument; answers one JSON result over IPC.
//
//   streaming:  each connection keeps `window` messages in flight, sending the next as
//               soon as an echo comes back: as fast as the path allows, with bounded
//               buffers. Result: echoed messages per second.
//   ping-pong:  each connection sends one message and waits for its echo before the
//               next. Result: round trips per second, and round-trip p50/p99.

import WebSocket from 'ws'
import type { WsJob, WsResult } from './websocket.js'

const job = JSON.parse(process.argv[2]) as WsJob
const payload = Buffer.alloc(job.size, 120)
let received = 0
let errors = 0
let measuring = false
const rtts: number[] = []

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(job.url, { headers: job.headers, perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket handshake answered ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

const sockets = await Promise.all(Array.from({ length: job.connections }, open))
let stopped = false
for (const ws of sockets) {
  ws.on('error', () => errors++)
  ws.on('close', () => {
    if (!stopped) errors++
  })
  if (job.mode === 'streaming') {
    ws.on('message', () => {
      if (measuring) received++
      if (!stopped) ws.send(payload)
    })
    for (let i = 0; i < job.window; i++) ws.send(payload)
  } else {
    let sentAt = 0
    ws.on('message', () => {
      const now = performance.now()
      if (measuring) {
        received++
        rtts.push(now - sentAt)
      }
      if (!stopped) {
        sentAt = performance.now()
        ws.send(payload)
      }
    })
    sentAt = performance.now()
    ws.send(payload)
  }
}

// A short warm-up on the open connections, then the measured time.
await new Promise((r) => setTimeout(r, Math.min(1000, job.duration * 250)))
measuring = true
const started = performance.now()
await new Promise((r) => setTimeout(r, job.duration * 1000))
measuring = false
const seconds = (performance.now() - started) / 1000
stopped = true
for (const ws of sockets) ws.terminate()

rtts.sort((a, b) => a - b)
const pct = (q: number) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] : 0)
const result: WsResult = { messages: received, rate: received / seconds, p50: pct(0.5), p99: pct(0.99), errors }
process.send!(result, () => process.exit(0))
