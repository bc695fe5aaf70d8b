// Real upstream servers on 127.0.0.1, port 0, that record what they received.

import http, { type IncomingHttpHeaders, type Server } from 'node:http'
import https from 'node:https'
import net, { type AddressInfo, type Socket } from 'node:net'
import { WebSocketServer } from 'ws'

export interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body: string
  /** Which upstream socket carried it (to observe keep-alive reuse). */
  socketId: number
}

export interface EchoUpstream {
  server: Server
  port: number
  origin: string
  /** Every request seen, in order (websocket handshakes included). */
  received: Received[]
  /** Upgrade requests seen (websocket handshakes). */
  upgrades: Received[]
  close(): Promise<void>
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void

export interface EchoOptions {
  handler?: Handler
  websockets?: boolean
  tls?: { key: string; cert: string }
}

/** The part of a tap test the helpers need. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** Echoes the request as JSON unless `handler` answers instead. With `websockets`, it
 *  also accepts websocket upgrades and echoes every message back, prefixed "echo:". */
export async function startEchoUpstream(options: EchoOptions = {}): Promise<EchoUpstream> {
  const received: Received[] = []
  const upgrades: Received[] = []
  const sockets = new Map<Socket, number>()
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const record = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body, socketId: sockets.get(req.socket) ?? -1 }
      received.push(record)
      if (options.handler) return options.handler(req, res, body)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ method: record.method, url: record.url, headers: record.headers, body }))
    })
  }
  const server = options.tls ? https.createServer(options.tls, onRequest) : http.createServer(onRequest)
  let nextSocketId = 0
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => sockets.set(socket, nextSocketId++))
  if (options.websockets) {
    const wss = new WebSocketServer({ noServer: true })
    server.on('upgrade', (req, socket, head) => {
      upgrades.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: '', socketId: -1 })
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data.toString()}`))
      })
    })
  } else {
    server.on('upgrade', (req, socket) => {
      upgrades.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: '', socketId: -1 })
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
    })
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    origin: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.()
        for (const socket of sockets.keys()) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** `startEchoUpstream` for one test: closed when the test ends. A bare handler stands for
 *  `{ handler }`. */
export async function upstream(t: Teardown, options: EchoOptions | Handler = {}): Promise<EchoUpstream> {
  const u = await startEchoUpstream(typeof options === 'function' ? { handler: options } : options)
  t.teardown(() => u.close())
  return u
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
