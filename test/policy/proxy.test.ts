// Policies through the real proxy: verdicts become 403, 401 or a forwarded request, the
// upstream never sees a refused one, and every decision writes one log line.

import t, { type Test } from 'tap'
import { send } from '../helpers/client.js'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/load.js'
import { configDir, gatehouse } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'

const HOST = 'app.example.com'

/** The fields of the decision log line, without pino's own. */
const AUTHORIZE_FIELDS = ['request_id', 'route', 'method', 'host', 'path', 'ip', 'user', 'email', 'groups', 'verdict', 'reasons', 'rule']

const authorizeLines = (logs: Record<string, unknown>[]) => logs.filter((line) => line.msg === 'authorize')
const ownFields = (line: Record<string, unknown>) =>
  Object.keys(line)
    .filter((k) => AUTHORIZE_FIELDS.includes(k))
    .sort()

/** The YAML text of a config whose first route goes from http://HOST to `origin`: `top`
 *  comes before `routes:`, `route` after the route's `to:` (its other keys, then maybe more
 *  routes). */
const configYaml = (origin: string, route: string[] = [], top: string[] = []) =>
  [...top, 'routes:', `  - from: http://${HOST}`, `    to: ${origin}`, ...route, ''].join('\n')

/** An echo upstream, and Gatehouse with `configYaml` routing HOST to it; both closed when
 *  the test ends. `route` may be a function of the upstream's origin, for routes after the first. */
async function proxied(t: Test, route: string[] | ((origin: string) => string[]) = [], top: string[] = []) {
  const up = await upstream(t)
  const gh = await gatehouse(t, configYaml(up.origin, typeof route === 'function' ? route(up.origin) : route, top))
  return { up, gh }
}

t.test('a public route with a deny rule on /admin', async (t) => {
  const { up, gh } = await proxied(t, [
    '    allow_public_unauthenticated_access: true',
    '    policy:',
    '      deny:',
    '        or:',
    '          - http_path: {starts_with: /admin}',
  ])

  for (const path of ['/admin', '/admin/users?x=1', '/%61dmin', '/public/../admin/x']) {
    const res = await send(gh.port, { host: HOST, path })
    t.equal(res.status, 403, `${path}: 403`)
    t.match(res.headers['content-type'], /^application\/json/)
    const body = JSON.parse(res.body)
    t.equal(body.error, 'GH_ERR_FORBIDDEN', `${path}: code`)
    t.equal(body.status, 403)
    t.equal(body.request_id, res.headers['x-request-id'])
  }
  t.equal(up.received.length, 0, 'the upstream never saw a denied request')

  const ok = await send(gh.port, { host: HOST, path: '/public?q=1' })
  t.equal(ok.status, 200)
  t.equal(up.received.length, 1)
  t.equal(up.received[0].url, '/public?q=1')

  // One decision line per request, with every default field.
  const lines = authorizeLines(gh.logs)
  t.equal(lines.length, 5, 'one authorize line per request')
  const denied = lines[0]
  t.match(denied, {
    route: `http://${HOST}`,
    method: 'GET',
    host: HOST,
    path: '/admin',
    ip: '127.0.0.1',
    verdict: 'deny',
    reasons: ['http-path-ok'],
    rule: 'routes[0].policy',
  })
  t.type(denied.request_id, 'string')
  t.strictSame(ownFields(denied), ['host', 'ip', 'method', 'path', 'reasons', 'request_id', 'route', 'rule', 'verdict'], 'no user fields without a user')
  t.equal(lines[1].path, '/admin/users', 'the path is logged without its query')
  t.equal(lines[2].path, '/admin', 'the normalised path is judged and logged')
  t.equal(lines[3].path, '/admin/x')
  // The legacy fields' rule is labelled after the route (the exact wording is not pinned).
  t.match(lines[4], { path: '/public', verdict: 'allow', reasons: ['accept'], rule: /^routes\[0\]/ })
  t.not(lines[4].rule, 'routes[0].policy')
  t.equal(new Set(lines.map((l) => l.request_id)).size, 5, 'each line has its own request id')
})

t.test('allow_any_authenticated_user without a session asks for a sign-in', async (t) => {
  const { up, gh } = await proxied(t, ['    allow_any_authenticated_user: true'])
  const res = await send(gh.port, { host: HOST, path: '/dashboard' })
  t.equal(res.status, 401)
  t.match(res.headers['content-type'], /^application\/json/)
  t.match(JSON.parse(res.body), { error: 'GH_ERR_UNAUTHENTICATED', status: 401 })
  t.equal(up.received.length, 0)
  const lines = authorizeLines(gh.logs)
  t.equal(lines.length, 1)
  t.match(lines[0], { verdict: 'sign_in', reasons: ['user-unauthenticated'], path: '/dashboard', route: `http://${HOST}` })
  t.notOk('rule' in lines[0] && lines[0].rule !== undefined, 'a sign-in names no rule')
})

t.test('a deny rule that needs a user, on a public route, asks for a sign-in', async (t) => {
  const { up, gh } = await proxied(t, ['    policy:', '      - allow: {or: [{accept: true}]}', '      - deny: {or: [{email: {ends_with: "@evil.example"}}]}'])
  const res = await send(gh.port, { host: HOST })
  t.equal(res.status, 401)
  t.equal(JSON.parse(res.body).error, 'GH_ERR_UNAUTHENTICATED')
  t.equal(up.received.length, 0)
})

t.test('source_ip decides, for the loopback client', async (t) => {
  const { up, gh } = await proxied(t, (origin) => [
    '    policy:',
    '      allow:',
    '        or:',
    '          - source_ip: 127.0.0.1',
    `  - from: http://other.example.com`,
    `    to: ${origin}`,
    '    policy: {allow: {or: [{source_ip: [10.0.0.0/8, "::1"]}]}}',
    `  - from: http://cidr.example.com`,
    `    to: ${origin}`,
    '    policy: {allow: {and: [{source_ip: 127.0.0.0/8}, {http_method: {in: [GET, HEAD]}}]}}',
  ])

  const allowed = await send(gh.port, { host: HOST, path: '/x' })
  t.equal(allowed.status, 200)
  t.equal(up.received.length, 1)
  t.equal(up.received[0].url, '/x')

  const denied = await send(gh.port, { host: 'other.example.com' })
  t.equal(denied.status, 403)
  t.equal(JSON.parse(denied.body).error, 'GH_ERR_FORBIDDEN')

  t.equal((await send(gh.port, { host: 'cidr.example.com' })).status, 200)
  t.equal((await send(gh.port, { host: 'cidr.example.com', method: 'POST', body: 'x' })).status, 403)
  t.equal(up.received.length, 2, 'only the allowed requests reached the upstream')

  const lines = authorizeLines(gh.logs)
  t.equal(lines.length, 4)
  t.match(lines[0], { verdict: 'allow', reasons: ['source-ip-ok'], rule: 'routes[0].policy', ip: '127.0.0.1', route: `http://${HOST}` })
  t.match(lines[1], { verdict: 'deny', reasons: ['source-ip-unauthorized'], route: 'http://other.example.com' })
  t.match(lines[2], { verdict: 'allow', reasons: ['http-method-ok', 'source-ip-ok'], rule: 'routes[2].policy' })
  t.match(lines[3], { verdict: 'deny', reasons: ['http-method-unauthorized'], method: 'POST' })
})

t.test('a route without policy or legacy fields denies everything', async (t) => {
  const { up, gh } = await proxied(t)
  const res = await send(gh.port, { host: HOST })
  t.equal(res.status, 403)
  t.equal(JSON.parse(res.body).error, 'GH_ERR_FORBIDDEN')
  t.equal(up.received.length, 0)
  t.match(authorizeLines(gh.logs), [{ verdict: 'deny', reasons: [] }])
})

t.test('authorize_log_fields limits the decision log', async (t) => {
  const { gh } = await proxied(
    t,
    ['    name: app', '    allow_public_unauthenticated_access: true', '    policy: {deny: {or: [{http_path: /admin}]}}'],
    ['authorize_log_fields: [route, verdict]'],
  )
  t.equal((await send(gh.port, { host: HOST, path: '/' })).status, 200)
  t.equal((await send(gh.port, { host: HOST, path: '/admin' })).status, 403)
  const lines = authorizeLines(gh.logs)
  t.equal(lines.length, 2)
  const withoutId = (line: Record<string, unknown>) => ownFields(line).filter((k) => k !== 'request_id')
  t.strictSame(lines.map(withoutId), [
    ['route', 'verdict'],
    ['route', 'verdict'],
  ])
  // Every line of a request carries its request_id (bound by the request's logger), so
  // the decision log always has it, whatever the chosen fields.
  t.strictSame(
    lines.map(ownFields),
    [
      ['request_id', 'route', 'verdict'],
      ['request_id', 'route', 'verdict'],
    ],
    'request_id is always there',
  )
  t.strictSame(
    lines.map((l) => [l.route, l.verdict]),
    [
      ['app', 'allow'],
      ['app', 'deny'],
    ],
  )
})

t.test('an empty authorize_log_fields turns the decision log off', async (t) => {
  const { gh } = await proxied(t, ['    allow_public_unauthenticated_access: true'], ['authorize_log_fields: []'])
  t.equal((await send(gh.port, { host: HOST })).status, 200)
  t.equal(authorizeLines(gh.logs).length, 0)
})

t.test('requests that never reach a route write no decision line', async (t) => {
  const { gh } = await proxied(t, ['    allow_public_unauthenticated_access: true'])
  t.equal((await send(gh.port, { host: 'unknown.example.com' })).status, 404)
  t.equal(authorizeLines(gh.logs).length, 0)
})

t.test('each decision line is one JSON object with each field once', async (t) => {
  // gh.logs holds parsed lines, which hide repeated keys: read the raw text instead.
  const up = await upstream(t)
  const written = configDir(t, { config: configYaml(up.origin, ['    allow_public_unauthenticated_access: true']) })
  const raw: string[] = []
  const app = await buildApp(await loadConfig(written.configFile, { env: {} }), {
    logger: pino({ level: 'info' }, { write: (line: string) => void raw.push(line) }),
  })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.equal((await send((app.server.address() as AddressInfo).port, { host: HOST })).status, 200)
  const lines = raw.filter((line) => JSON.parse(line).msg === 'authorize')
  t.equal(lines.length, 1)
  t.equal(lines[0].split('"request_id":').length - 1, 1, 'request_id appears once')
})
