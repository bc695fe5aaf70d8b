// The demo upstream: an app that shows what Gatehouse forwarded to it. It verifies the
// identity assertion against Gatehouse's JWKS (as a real app behind Gatehouse should),
// serves the demo's home page on the home hosts, and echoes websocket messages. For
// trying Gatehouse out only.

import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { ListenAddress } from '../types.js'
import { refuseInProduction } from './production.js'
import { CSS, CSS_FILE, DEMO_CSP, requestPage, websocketPage, WS_ENDPOINT, WS_PAGE_FILE, WS_SCRIPT, WS_SCRIPT_FILE } from './pages.js'
import { assertionVerifier, type Verification } from './verify.js'

export interface DemoUpstreamOptions {
  readonly address: ListenAddress
  /** Gatehouse's /.well-known/gatehouse/jwks.json, to verify assertions with. */
  readonly jwksUrl: string
  /** Lower-case name of the header carrying the assertion (identity.header). */
  readonly assertionHeader: string
  /** Hosts (`host:port` as the browser sent it, lower-case) whose `/` is the home page. */
  readonly homeHosts?: ReadonlySet<string>
  readonly homePage?: () => string
  /** Where the home page is, for a link back from the other pages. */
  readonly homeUrl?: string
}

/** The host the browser asked for: Gatehouse passes it as X-Forwarded-Host. */
function browserHost(req: IncomingMessage): string | undefined {
  const value = req.headers['x-forwarded-host']
  return typeof value === 'string' ? value.toLowerCase() : undefined
}

const lastSegment = (url: string) => {
  const path = url.split('?')[0]
  return path.slice(path.lastIndexOf('/') + 1)
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-security-policy': DEMO_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...headers,
  })
  res.end(body)
}

/** What the JSON answer says about the assertion. */
function assertionJson(v: Verification): Record<string, unknown> {
  if (v.status === 'verified') return { status: v.status, claims: v.claims }
  if (v.status === 'not verified') return { status: v.status, reason: v.reason, claims: v.claims }
  return { status: v.status }
}

/** One line for the websocket's first message: who Gatehouse opened it for. */
function greeting(v: Verification): string {
  if (v.status === 'verified') return `connected through Gatehouse as ${String(v.claims.user ?? v.claims.sub)} (assertion verified)`
  if (v.status === 'not verified') return `connected, but the identity assertion is NOT verified: ${v.reason}`
  return 'connected through Gatehouse, with nobody signed in'
}

export interface RunningUpstream {
  readonly server: Server
  close(): Promise<void>
}

export async function startDemoUpstream(options: DemoUpstreamOptions): Promise<RunningUpstream> {
  refuseInProduction('the demo upstream is for development only; remove the demo: block')
  const verify = assertionVerifier(options.jwksUrl)
  const assertionOf = (req: IncomingMessage) => {
    const value = req.headers[options.assertionHeader]
    return typeof value === 'string' ? value : undefined
  }

  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/'
    const file = lastSegment(url)
    if (file === CSS_FILE) return send(res, 200, 'text/css; charset=utf-8', CSS, { 'cache-control': 'max-age=300' })
    if (file === WS_SCRIPT_FILE) return send(res, 200, 'text/javascript; charset=utf-8', WS_SCRIPT, { 'cache-control': 'max-age=300' })
    if (file === WS_PAGE_FILE) return send(res, 200, 'text/html; charset=utf-8', websocketPage())
    const host = browserHost(req)
    if (options.homePage && host !== undefined && options.homeHosts?.has(host) && url.split('?')[0] === '/') {
      return send(res, 200, 'text/html; charset=utf-8', options.homePage())
    }

    const verification = await verify(assertionOf(req), host)
    const headers = Object.entries(req.headers)
      .map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)] as const)
      .sort(([a], [b]) => a.localeCompare(b))
    // Identity pages are about one user: never cached.
    const noStore = { 'cache-control': 'no-store' }
    if (!(req.headers.accept ?? '').includes('text/html')) {
      const body = { method: req.method, url, headers: Object.fromEntries(headers), assertion: assertionJson(verification) }
      return send(res, 200, 'application/json', JSON.stringify(body, null, 2), noStore)
    }
    const page = requestPage({
      method: req.method ?? '',
      url,
      headers,
      assertionHeader: options.assertionHeader,
      verification,
      jwksUrl: options.jwksUrl,
      homeUrl: options.homeUrl,
    })
    return send(res, 200, 'text/html; charset=utf-8', page, noStore)
  }

  const server = http.createServer((req, res) => {
    answer(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `demo upstream failed: ${err.message}\n`)
      else res.destroy()
    })
  })

  // The echo: the first message says who Gatehouse opened the websocket for, then every
  // message comes back as "echo: ...".
  const echo = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    if (lastSegment(req.url ?? '/') !== WS_ENDPOINT) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      return
    }
    const verified = verify(assertionOf(req), browserHost(req))
    echo.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate())
      // Echoes wait for the greeting, so it is always the first message.
      let sent = verified.then((v) => ws.send(greeting(v)))
      ws.on('message', (data, isBinary) => {
        sent = sent.then(() => ws.send(isBinary ? data : `echo: ${String(data)}`, { binary: isBinary }))
      })
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.address.port, options.address.host, () => resolve())
  })
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        // Open websockets and idle keep-alive connections would hold close() for ever.
        for (const client of echo.clients) client.terminate()
        echo.close()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
