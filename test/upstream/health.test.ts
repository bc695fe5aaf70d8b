// Routes with several `to`: active health checks take failing members out and bring
// them back; a member that refuses connections is ejected; an idempotent request that
// could not connect is retried once on another member; no healthy member means 503;
// websockets use the same pools; and each load_balancing_policy spreads as it says.

import t, { type Test } from 'tap'
import { request } from '../helpers/client.js'
import { gatehouse } from '../helpers/gatehouse.js'
import { closedPort, upstream, type EchoUpstream } from '../helpers/upstream.js'
import { websocketHandshake } from '../helpers/websocket.js'
import { RouteUpstreams, Upstream } from '../../src/upstream/balancer.js'
import type { UpstreamTarget } from '../../src/types.js'

/** An upstream whose /healthz answers as `health.ok` says, naming itself on /. */
async function member(t: Test, name: string, health = { ok: true }) {
  const u = await upstream(t, {
    websockets: true,
    handler: (req, res) => {
      if (req.url === '/healthz') {
        res.writeHead(health.ok ? 200 : 503).end()
        return
      }
      res.end(name)
    },
  })
  return { u, health }
}

const route = (members: EchoUpstream[], extra = '') => `routes:
  - from: http://app.test
    to: [${members.map((m) => m.origin).join(', ')}]
    allow_public_unauthenticated_access: true
    allow_websockets: true
${extra}`

const hit = async (port: number, method = 'GET') => {
  const res = await request(port, { method, path: '/', headers: { host: 'app.test', accept: 'application/json' } })
  return { status: res.status, text: res.text }
}

t.test('active health checks take a failing member out and bring it back', async (t) => {
  const a = await member(t, 'a')
  const b = await member(t, 'b')
  const gh = await gatehouse(
    t,
    route(
      [a.u, b.u],
      '    health_checks:\n      - { http: { path: /healthz }, interval: 100ms, timeout: 500ms, healthy_threshold: 2, unhealthy_threshold: 2 }\n',
    ),
  )
  const seen = new Set<string>()
  for (let i = 0; i < 6; i++) seen.add((await hit(gh.port)).text)
  t.strictSame([...seen].sort(), ['a', 'b'], 'both serve while healthy')

  a.health.ok = false
  await new Promise((r) => setTimeout(r, 500))
  const onlyB = new Set<string>()
  for (let i = 0; i < 6; i++) onlyB.add((await hit(gh.port)).text)
  t.strictSame([...onlyB], ['b'], 'traffic goes only to the healthy member')

  b.health.ok = false
  await new Promise((r) => setTimeout(r, 500))
  const none = await hit(gh.port)
  t.equal(none.status, 503, 'none healthy: 503')
  t.equal(JSON.parse(none.text).error, 'GH_ERR_NO_HEALTHY_UPSTREAM')
  const ws = await websocketHandshake(gh.port, { host: 'app.test' })
  t.equal(ws.status, 503, 'websockets use the same health')

  a.health.ok = true
  await new Promise((r) => setTimeout(r, 500))
  t.equal((await hit(gh.port)).text, 'a', 'a member that passes again is back')
})

t.test('a member that refuses connections is ejected; idempotent requests are retried once on another', async (t) => {
  const b = await member(t, 'b')
  const dead = { origin: `http://127.0.0.1:${await closedPort()}` } as EchoUpstream
  const gh = await gatehouse(t, route([dead, b.u]))
  for (let i = 0; i < 6; i++) {
    const res = await hit(gh.port)
    t.equal(res.status, 200, `GET ${i}: answered by the live member (retried or picked)`)
    t.equal(res.text, 'b')
  }
  const post = await request(gh.port, { method: 'POST', path: '/', headers: { host: 'app.test', 'content-length': '2' }, body: 'hi' })
  t.equal(post.status, 200, 'the dead member is ejected, so even a POST goes to the live one')
})

t.test('a POST with a body is not replayed on another member', async (t) => {
  const b = await member(t, 'b')
  const dead = { origin: `http://127.0.0.1:${await closedPort()}` } as EchoUpstream
  // Round robin over [dead, b] with weights that make the first pick the dead member.
  const gh = await gatehouse(
    t,
    `routes:
  - from: http://app.test
    to: ["${dead.origin},5", "${b.u.origin},1"]
    allow_public_unauthenticated_access: true
`,
  )
  const res = await request(gh.port, {
    method: 'POST',
    path: '/',
    headers: { host: 'app.test', 'content-length': '2', accept: 'application/json' },
    body: 'hi',
  })
  t.equal(res.status, 502, 'its body went to the dead member; it is not sent twice')
  t.equal(b.u.received.length, 0)
})

const targets = (n: number): UpstreamTarget[] =>
  Array.from({ length: n }, (_, i) => ({ origin: `http://m${i}`, protocol: 'http:', hostname: `m${i}`, port: 80, host: `m${i}`, weight: 1 }))
const members = (n: number) => targets(n).map((target) => new Upstream(target, {} as never, undefined))

t.test('load balancing policies', async (t) => {
  const rr = new RouteUpstreams(members(3), 'round_robin')
  t.strictSame(
    Array.from({ length: 6 }, () => rr.pick()!.target.hostname),
    ['m0', 'm1', 'm2', 'm0', 'm1', 'm2'],
  )
  const least = new RouteUpstreams(members(3), 'least_request')
  least.members[0].inFlight = 5
  least.members[1].inFlight = 1
  least.members[2].inFlight = 3
  t.equal(least.pick()!.target.hostname, 'm1', 'fewest in flight')
  const random = new RouteUpstreams(members(3), 'random')
  const spread = new Set(Array.from({ length: 200 }, () => random.pick()!.target.hostname))
  t.equal(spread.size, 3, 'random reaches every member')
  const sticky = new RouteUpstreams(members(4), 'sticky_session')
  const choice = sticky.pick('session-123')!
  t.ok(
    Array.from({ length: 10 }, () => sticky.pick('session-123')).every((m) => m === choice),
    'one session stays on one member',
  )
  t.ok(new Set(Array.from({ length: 50 }, (_, i) => sticky.pick(`s${i}`)!.target.hostname)).size > 1, 'sessions spread over members')
  choice.eject()
  const moved = sticky.pick('session-123')!
  t.not(moved, choice, 'when its member leaves, the session moves')
})

t.test('load_balancing_policy and health_checks are checked at load', async (t) => {
  await t.rejects(gatehouse(t, 'routes:\n  - from: http://x.test\n    to: http://127.0.0.1:9\n    load_balancing_policy: fastest\n'), {
    code: 'GH_ERR_CONFIG_INVALID',
    message: /load_balancing_policy: must be one of/,
  })
  await t.rejects(gatehouse(t, 'routes:\n  - from: http://x.test\n    to: http://127.0.0.1:9\n    health_checks:\n      - { http: { path: healthz } }\n'), {
    code: 'GH_ERR_CONFIG_INVALID',
    message: /must start with \//,
  })
})
