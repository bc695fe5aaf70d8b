// The baseline: @fastify/http-proxy in front of the upstream, with nothing else.
import proxy from '@fastify/http-proxy'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'

const app = Fastify({ logger: false })
await app.register(proxy, { upstream: `http://127.0.0.1:${process.argv[2]}` })
await app.listen({ host: '127.0.0.1', port: 0 })
process.send!({ port: (app.server.address() as AddressInfo).port })
