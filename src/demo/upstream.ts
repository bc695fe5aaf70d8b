// The demo upstream: an app that shows what Gatehouse forwarded to it, identity
// headers included. For trying Gatehouse out only.

import http, { type Server } from 'node:http'
import type { ListenAddress } from '../types.js'
import { refuseInProduction } from './production.js'
import { escapeHtml } from '../http/html.js'

export async function startDemoUpstream(address: ListenAddress): Promise<Server> {
  refuseInProduction('the demo upstream is for development only; remove the demo: block')
  const server = http.createServer((req, res) => {
    const headers = Object.entries(req.headers).sort(([a], [b]) => a.localeCompare(b))
    if (!(req.headers.accept ?? '').includes('text/html')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: Object.fromEntries(headers) }, null, 2))
      return
    }
    const rows = headers.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`).join('')
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Gatehouse demo upstream</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem}th{text-align:left;padding-right:1rem;vertical-align:top}td{font-family:monospace;word-break:break-all}</style>
</head><body><h1>Gatehouse demo upstream</h1><p>DEMO ONLY. This app shows the request Gatehouse forwarded to it.</p>
<p><b>${escapeHtml(req.method ?? '')} ${escapeHtml(req.url ?? '')}</b></p><table>${rows}</table></body></html>`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address.port, address.host, () => resolve())
  })
  return server
}
