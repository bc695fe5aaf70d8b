// The upstream of the large-body runs of bench/scale.ts: it discards request bodies,
// counting their bytes, and generates downloads of any size on the fly from one reused
// buffer, written as fast as the client (or the proxy) reads them: no file, no buffering.
//
//   PUT or POST (any path)          -> 200 {"bytes": <bytes received>} once the body ends
//   GET .../download?bytes=N        -> 200 with N bytes (Content-Length: N)
//   GET anything else               -> 200 "hello from the scale upstream"
//
// It sends {port} over IPC once it listens (bench/procs.ts startScript).

import http from 'node:http'
import type { AddressInfo } from 'node:net'

const CHUNK = Buffer.alloc(256 * 1024, 'gatehouse scale ')

const server = http.createServer((req, res) => {
  if (req.method === 'PUT' || req.method === 'POST') {
    let bytes = 0
    req.on('data', (chunk: Buffer) => (bytes += chunk.length))
    req.on('end', () => {
      const body = JSON.stringify({ bytes })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    return
  }
  const url = new URL(req.url ?? '/', 'http://upstream')
  if (!url.pathname.endsWith('/download')) {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('hello from the scale upstream\n')
    return
  }
  const total = Number(url.searchParams.get('bytes') ?? '0')
  if (!Number.isSafeInteger(total) || total < 0) {
    res.writeHead(400).end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) })
  let left = total
  let gone = false
  res.once('close', () => (gone = true))
  const pump = () => {
    while (left > 0 && !gone) {
      const n = Math.min(CHUNK.length, left)
      left -= n
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump)
        return
      }
    }
    if (!gone) res.end()
  }
  pump()
})
server.keepAliveTimeout = 60_000
server.requestTimeout = 0
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }))
