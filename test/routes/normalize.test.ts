import t from 'tap'
import { normalizeTarget } from '../../src/routes/normalize.js'

const accepted: [string, string, string][] = [
  // target, path, query
  ['/', '/', ''],
  ['/a/b', '/a/b', ''],
  ['/a/b/', '/a/b/', ''],
  ['/a?x=1&y=/../z', '/a', '?x=1&y=/../z'],
  ['/a//b///c', '/a/b/c', ''],
  ['//a', '/a', ''],
  ['/a/./b', '/a/b', ''],
  ['/a/../b', '/b', ''],
  ['/a/b/..', '/a/', ''],
  ['/a/.', '/a/', ''],
  ['/a/%2e%2e/b', '/b', ''],
  ['/a/%2E/b', '/a/b', ''],
  ['/%61dmin', '/admin', ''],
  ['/a%20b', '/a%20b', ''],
  ['/a%3fb', '/a%3Fb', ''],
  ['/%252e%252e/x', '/%252e%252e/x', ''],
  ['/caf%C3%A9', '/caf%C3%A9', ''],
  ['/.well-known/x', '/.well-known/x', ''],
  ['/a/..b', '/a/..b', ''],
  ['/Admin', '/Admin', ''],
]
for (const [target, path, query] of accepted) {
  t.test(`accepts ${target}`, async (t) => {
    const out = normalizeTarget(target)
    t.same(out, { ok: true, path, query })
  })
}

const refused: [string, string][] = [
  ['/..', 'climbs'],
  ['/a/../..', 'climbs'],
  ['/%2e%2e/', 'climbs'],
  ['/a%2fb', 'encoded'],
  ['/a%2Fb', 'encoded'],
  ['/a%5cb', 'encoded'],
  ['/a%00b', 'encoded'],
  ['/a\\b', 'backslash'],
  ['/a%zz', 'invalid percent'],
  ['/a%4', 'invalid percent'],
  ['/a%C3', 'UTF-8'],
  ['/a%C3%28', 'UTF-8'],
  ['/a%FF', 'UTF-8'],
  ['/a#frag', 'fragment'],
  ['/admin;x=1', 'parameters'],
  ['/public/..;/admin', 'parameters'],
  ['*', 'starting with /'],
  ['a/b', 'starting with /'],
  ['/a\u00e9', 'percent-encoded'],
]
for (const [target, message] of refused) {
  t.test(`refuses ${JSON.stringify(target)}`, async (t) => {
    const out = normalizeTarget(target)
    t.equal(out.ok, false)
    if (!out.ok) {
      t.equal(out.code, 'GH_ERR_BAD_PATH')
      t.match(out.detail, message)
    }
  })
}

t.test('allow_path_parameters keeps ; as literal text, still normalising the rest', async (t) => {
  t.same(normalizeTarget('/app;jsessionid=1/x', true), { ok: true, path: '/app;jsessionid=1/x', query: '' })
  t.same(normalizeTarget('/a/../b;v=1', true), { ok: true, path: '/b;v=1', query: '' })
  t.same(normalizeTarget('/public/..;/admin', true), { ok: true, path: '/public/..;/admin', query: '' }, '..; is a segment name, not ..')
  t.equal(normalizeTarget('/a;b\\c', true).ok, false, 'other rules still apply')
  t.equal(normalizeTarget('/app;x', false).ok, false, 'refused by default')
})
