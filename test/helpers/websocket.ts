// A websocket handshake through Gatehouse as a browser makes it, and what came of it:
// an open socket (101) or the refusal with its status, Set-Cookie and body.

import WebSocket from 'ws'

export interface Handshake {
  status: number
  setCookies: string[]
  /** The refusal's body; empty when the socket opened. */
  body: string
  /** The open socket (101 only); closed by the caller, or by `close: true`. */
  ws: WebSocket | undefined
  /** Resolves with the close code once the open socket closes. */
  closed: Promise<number> | undefined
  /** Every message received, from the moment the socket opened: a message that came in
   *  the same read as the 101 is delivered before the caller could listen for it. */
  messages: string[]
}

export function websocketHandshake(port: number, options: { host: string; path?: string; cookie?: string; close?: boolean }): Promise<Handshake> {
  const { host, path = '/ws', cookie, close = false } = options
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host, ...(cookie ? { cookie } : {}) } })
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)))
    let setCookies: string[] = []
    const messages: string[] = []
    ws.on('message', (data) => messages.push(String(data)))
    ws.on('upgrade', (res) => (setCookies = ([] as string[]).concat(res.headers['set-cookie'] ?? [])))
    ws.on('open', () => {
      if (close) ws.close()
      resolve({ status: 101, setCookies, body: '', ws, closed, messages })
    })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          setCookies: ([] as string[]).concat(res.headers['set-cookie'] ?? []),
          body,
          ws: undefined,
          closed: undefined,
          messages,
        }),
      )
    })
    ws.on('error', reject)
  })
}
