// The bench upstream: a plain Node server answering a small fixed body.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const body = Buffer.from('hello from the bench upstream\n')
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }))
