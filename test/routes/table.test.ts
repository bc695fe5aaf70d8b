import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { parseHost } from '../../src/routes/host.js'
import type { Route } from '../../src/routes/route.js'
import { RouteTable } from '../../src/routes/table.js'
import { writeConfigDir } from '../helpers/gatehouse.js'

/** Routes loaded from YAML through the real loader, in the order written. */
async function loadRoutes(config: string, files?: Record<string, string>): Promise<readonly Route[]> {
  const written = writeConfigDir({ config, files })
  try {
    return (await loadConfig(written.configFile, { env: {} })).routes
  } finally {
    written.cleanup()
  }
}

/** Looks a request up the way the proxy does: Host header through parseHost, then the
 *  table. Answers the route's name, or undefined. */
function lookup(table: RouteTable, hostHeader: string, path: string): string | undefined {
  const host = parseHost(hostHeader)
  if (!host) throw new Error(`test bug: ${hostHeader} is not a valid Host header`)
  return table.find(host.hostname, host.port, path)?.id
}

const TO = 'http://127.0.0.1:9'

t.test('host matching', async (t) => {
  const routes = await loadRoutes(`
routes:
  - { name: a, from: https://a.test, to: ${TO} }
  - { name: a-8080, from: http://a.test:8080, to: ${TO} }
  - { name: a-http-80, from: http://a.test:80, prefix: /explicit-default-port, to: ${TO} }
  - { name: a-http-443, from: http://a.test:443, prefix: /cross-default-port, to: ${TO} }
  - { name: upper, from: HTTP://UPPER.Test, to: ${TO} }
  - { name: dotted, from: http://dotted.test., to: ${TO} }
  - { name: wild, from: https://*.example.com, to: ${TO} }
  - { name: wild-deep, from: https://*.deep.example.com, to: ${TO} }
  - { name: wild-8443, from: https://*.example.com:8443, to: ${TO} }
  - { name: www-only, from: https://www.example.com, path: /only, to: ${TO} }
  - { name: exact-under-wild, from: https://named.deep.example.com, to: ${TO} }
  - { name: wild-a, from: http://*.a.test, to: ${TO} }
`)
  const table = new RouteTable(routes)

  const cases: [string, string, string | undefined, string][] = [
    // Host header, path, expected route, why
    ['a.test', '/', 'a', 'plain host'],
    ['a.test', '/x/y', 'a', 'default prefix / covers every path'],
    ['A.TEST', '/', 'a', 'case-insensitive'],
    ['A.Test', '/', 'a', 'mixed case'],
    ['a.test.', '/', 'a', 'trailing dot ignored'],
    ['A.TEST.', '/', 'a', 'trailing dot and upper case'],
    ['a.test:443', '/', 'a', 'https default port'],
    ['a.test:80', '/', 'a', 'http default port'],
    ['a.test.:443', '/', 'a', 'trailing dot with default port'],
    ['a.test:80', '/explicit-default-port/x', 'a-http-80', 'from with :80 written out is the host without a port'],
    ['a.test', '/explicit-default-port', 'a-http-80', 'from with :80 written out, no port in Host'],
    ['a.test', '/cross-default-port', 'a-http-443', 'http with :443 written out also counts as no port (it must stay reachable)'],
    ['a.test:80', '/cross-default-port', 'a-http-443', 'either default port reaches it'],
    ['a.test:8080', '/', 'a-8080', 'non-default port selects the port-specific host'],
    ['A.Test.:8080', '/', 'a-8080', 'port with case and trailing dot'],
    ['a.test:8081', '/', undefined, 'unknown port'],
    ['a.test:9090', '/', undefined, 'another unknown port'],
    ['upper.test', '/', 'upper', 'from is lower-cased at load'],
    ['UPPER.TEST', '/', 'upper', 'both sides upper'],
    ['dotted.test', '/', 'dotted', 'trailing dot in from is dropped'],
    ['dotted.test.', '/', 'dotted', 'trailing dot on both sides'],
    ['x.example.com', '/', 'wild', 'one label under the wildcard'],
    ['x.y.example.com', '/', 'wild', 'two labels under the wildcard'],
    ['a.b.c.d.example.com', '/', 'wild', 'many labels under the wildcard'],
    ['X.Example.COM', '/', 'wild', 'wildcard is case-insensitive'],
    ['x.example.com.', '/', 'wild', 'wildcard with trailing dot'],
    ['x.example.com:443', '/', 'wild', 'wildcard with default port'],
    ['example.com', '/', undefined, 'the wildcard needs at least one label'],
    ['example.com.', '/', undefined, 'bare suffix with a trailing dot'],
    ['notexample.com', '/', undefined, 'suffix must start at a label boundary'],
    ['x.notexample.com', '/', undefined, 'suffix at a label boundary, different name'],
    ['x.example.com.evil.test', '/', undefined, 'wildcard suffix must be at the end'],
    ['example.com.x', '/', undefined, 'suffix then more labels'],
    ['x.deep.example.com', '/', 'wild-deep', 'the longest wildcard suffix wins'],
    ['a.b.deep.example.com', '/', 'wild-deep', 'longest wildcard suffix, several labels'],
    ['deep.example.com', '/', 'wild', '*.deep.example.com does not cover deep.example.com'],
    ['named.deep.example.com', '/', 'exact-under-wild', 'an exact host beats a wildcard'],
    ['x.named.deep.example.com', '/', 'wild-deep', 'the exact host does not act as a wildcard'],
    ['x.example.com:8443', '/', 'wild-8443', 'wildcard with a port'],
    ['x.deep.example.com:8443', '/', 'wild-8443', 'port-specific wildcard; *.deep.example.com has no port'],
    ['x.example.com:8080', '/', undefined, 'wildcard with an unknown port'],
    ['www.example.com', '/only', 'www-only', 'exact host, matching path'],
    ['www.example.com', '/other', undefined, 'exact host without a matching path: no fallback to the wildcard'],
    ['www.example.com', '/', undefined, 'no fallback for / either'],
    ['WWW.EXAMPLE.COM.', '/only', 'www-only', 'exact host in another spelling'],
    ['x.a.test', '/', 'wild-a', 'wildcard under a host that also has exact routes'],
    ['a.test.a.test', '/', 'wild-a', 'repeated labels'],
    ['x.a.test:8080', '/', undefined, '*.a.test has no port 8080 and *.a.test:8080 is not configured'],
    ['b.test', '/', undefined, 'unknown host'],
    ['test', '/', undefined, 'top-level label alone'],
    ['127.0.0.1', '/', undefined, 'an address no route names'],
    ['[::1]', '/', undefined, 'an IPv6 literal no route names'],
  ]
  for (const [host, path, expected, why] of cases) {
    t.equal(lookup(table, host, path), expected, `${host} ${path} -> ${expected ?? 'none'} (${why})`)
  }
})

t.test('wildcards without exact hosts, and exact hosts without wildcards', async (t) => {
  const onlyWild = new RouteTable(
    await loadRoutes(`
routes:
  - { name: w, from: https://*.w.test, to: ${TO} }
`),
  )
  t.equal(lookup(onlyWild, 'x.w.test', '/'), 'w')
  t.equal(lookup(onlyWild, 'w.test', '/'), undefined)
  t.equal(lookup(onlyWild, 'x.v.test', '/'), undefined)

  const onlyExact = new RouteTable(
    await loadRoutes(`
routes:
  - { name: e, from: https://e.test, to: ${TO} }
`),
  )
  t.equal(lookup(onlyExact, 'e.test', '/'), 'e')
  t.equal(lookup(onlyExact, 'x.e.test', '/'), undefined)

  const empty = new RouteTable([])
  t.equal(empty.find('a.test', undefined, '/'), undefined)
  t.equal(empty.find('a.test', '8080', '/'), undefined)
})

t.test('path matching', async (t) => {
  const routes = await loadRoutes(`
routes:
  - { name: root, from: https://p.test, to: ${TO} }
  - { name: admin, from: https://p.test, prefix: /admin, to: ${TO} }
  - { name: admin-slash, from: https://p.test, prefix: /admin/, to: ${TO} }
  - { name: admin-users, from: https://p.test, prefix: /admin/users/, to: ${TO} }
  - { name: re-numeric, from: https://p.test, regex: '/admin/users/[0-9]+', to: ${TO} }
  - { name: re-letters, from: https://p.test, regex: '/admin/users/[a-z]+', to: ${TO} }
  - { name: exact-me, from: https://p.test, path: /admin/users/me, to: ${TO} }
  - { name: re-api, from: https://p.test, regex: '/api', to: ${TO} }
  - { name: re-anchored, from: https://p.test, regex: '^/v[0-9]$', to: ${TO} }
  - { name: re-alt, from: https://p.test, regex: '/one|/two', to: ${TO} }
  - { name: docs, from: https://p.test, prefix: /Docs, to: ${TO} }
  - { name: aa, from: https://p.test, prefix: /aa, to: ${TO} }
  - { name: ab, from: https://p.test, prefix: /ab, to: ${TO} }
  - { name: exact-file, from: https://p.test, path: /file.txt, to: ${TO} }
  - { name: exact-dir, from: https://p.test, path: /dir/, to: ${TO} }

  - { name: q-any, from: https://q.test, regex: '/.*', to: ${TO} }
  - { name: q-x, from: https://q.test, regex: '/x', to: ${TO} }
  - { name: q-prefix-x, from: https://q.test, prefix: /x, to: ${TO} }
  - { name: q-exact-x, from: https://q.test, path: /x, to: ${TO} }

  - { name: r-only, from: https://r.test, prefix: /only, to: ${TO} }
  - { name: r-exact, from: https://r.test, path: /exact, to: ${TO} }
`)
  const table = new RouteTable(routes)

  const cases: [string, string, string | undefined, string][] = [
    ['p.test', '/', 'root', 'the default prefix is /'],
    ['p.test', '/anything/else', 'root', 'root prefix covers everything'],
    ['p.test', '/admin', 'admin', '/admin/ is longer but does not cover /admin'],
    ['p.test', '/admin-panel', 'admin', 'prefix is a plain string prefix'],
    ['p.test', '/administrator', 'admin', 'plain string prefix, no segment boundary'],
    ['p.test', '/admin/', 'admin-slash', 'the longest prefix wins'],
    ['p.test', '/admin/x', 'admin-slash', 'longest prefix wins over /admin'],
    ['p.test', '/admin/users', 'admin-slash', '/admin/users/ does not cover /admin/users'],
    ['p.test', '/admin/users/', 'admin-users', 'longest prefix'],
    ['p.test', '/admin/users/42', 're-numeric', 'a regex beats a longer prefix'],
    ['p.test', '/admin/users/abc', 're-letters', 'second regex'],
    ['p.test', '/admin/users/ABC', 'admin-users', 'regexes are case-sensitive; falls back to the prefix'],
    ['p.test', '/admin/users/42/x', 'admin-users', 'a regex is a full match, not a substring'],
    ['p.test', '/admin/users/me', 'exact-me', 'an exact path beats regexes that also match'],
    ['p.test', '/admin/users/me/', 'admin-users', 'an exact path is exact (trailing slash differs)'],
    ['p.test', '/admin/users/mE', 'admin-users', 'exact paths are case-sensitive'],
    ['p.test', '/api', 're-api', 'regex full match'],
    ['p.test', '/api/v1', 'root', 'a regex does not match a longer path'],
    ['p.test', '/xapi', 'root', 'a regex does not match a path containing it'],
    ['p.test', '/v1', 're-anchored', 'explicit anchors are harmless'],
    ['p.test', '/v10', 'root', 'explicit anchors still a full match'],
    ['p.test', '/one', 're-alt', 'alternation, first branch'],
    ['p.test', '/two', 're-alt', 'alternation, second branch: the whole alternation is anchored'],
    ['p.test', '/one/two', 'root', 'alternation does not leak anchors'],
    ['p.test', '/xtwo', 'root', 'alternation does not match a suffix'],
    ['p.test', '/Docs/intro', 'docs', 'prefix match'],
    ['p.test', '/docs/intro', 'root', 'prefixes are case-sensitive'],
    ['p.test', '/DOCS', 'root', 'prefixes are case-sensitive'],
    ['p.test', '/aa/x', 'aa', 'same-length prefixes: the one that matches'],
    ['p.test', '/abc', 'ab', 'same-length prefixes: the other one'],
    ['p.test', '/ac', 'root', 'neither same-length prefix'],
    ['p.test', '/a', 'root', 'shorter than both'],
    ['p.test', '/file.txt', 'exact-file', 'exact path'],
    ['p.test', '/file.txt.bak', 'root', 'exact path is not a prefix'],
    ['p.test', '/file.tx', 'root', 'exact path is not matched by a shorter path'],
    ['p.test', '/dir/', 'exact-dir', 'exact path with trailing slash'],
    ['p.test', '/dir', 'root', 'exact path without its trailing slash'],
    ['p.test', '/dir/x', 'root', 'exact path is not a prefix'],

    ['q.test', '/x', 'q-exact-x', 'exact beats every regex'],
    ['q.test', '/y', 'q-any', 'regex beats nothing'],
    ['q.test', '/xy', 'q-any', 'regex beats prefix'],
    ['q.test', '/x/', 'q-any', 'the first regex written wins, even when a later one is more specific'],

    ['r.test', '/only', 'r-only', 'prefix equal to the path'],
    ['r.test', '/only/x', 'r-only', 'prefix'],
    ['r.test', '/onlyx', 'r-only', 'plain string prefix'],
    ['r.test', '/onl', undefined, 'path shorter than every prefix'],
    ['r.test', '/', undefined, 'no root route: nothing'],
    ['r.test', '/exact', 'r-exact', 'exact path'],
    ['r.test', '/exact/', undefined, 'exact path with an extra slash'],
    ['r.test', '/exactly', undefined, 'exact path is not a prefix'],
    ['r.test', '/other', undefined, 'no route'],
  ]
  for (const [host, path, expected, why] of cases) {
    t.equal(lookup(table, host, path), expected, `${host} ${path} -> ${expected ?? 'none'} (${why})`)
  }
})

t.test('regexes are tried in the order written', async (t) => {
  // The same two regexes, written in both orders: the first written wins either way.
  const routes = await loadRoutes(`
routes:
  - { name: one-broad, from: https://one.test, regex: '/items/.*', to: ${TO} }
  - { name: one-narrow, from: https://one.test, regex: '/items/[0-9]+', to: ${TO} }
  - { name: two-narrow, from: https://two.test, regex: '/items/[0-9]+', to: ${TO} }
  - { name: two-broad, from: https://two.test, regex: '/items/.*', to: ${TO} }
`)
  const table = new RouteTable(routes)
  t.equal(lookup(table, 'one.test', '/items/7'), 'one-broad')
  t.equal(lookup(table, 'one.test', '/items/x'), 'one-broad')
  t.equal(lookup(table, 'two.test', '/items/7'), 'two-narrow')
  t.equal(lookup(table, 'two.test', '/items/x'), 'two-broad')
  t.equal(lookup(table, 'two.test', '/items'), undefined, '/items/.* needs the slash')
})

t.test('routes spread over config.yaml and policy files keep their order', async (t) => {
  const routes = await loadRoutes(
    `
routes:
  - { name: cfg-re, from: https://o.test, regex: '/a.*', to: ${TO} }
`,
    {
      'policies/10-first.yaml': `routes:\n  - { name: p1-re, from: https://o.test, regex: '/ab.*', to: ${TO} }\n`,
      'policies/20-second.yaml': `routes:\n  - { name: p2-re, from: https://o.test, regex: '/b.*', to: ${TO} }\n  - { name: p2-prefix, from: https://o.test, prefix: /, to: ${TO} }\n`,
    },
  )
  t.same(
    routes.map((r) => r.id),
    ['cfg-re', 'p1-re', 'p2-re', 'p2-prefix'],
  )
  const table = new RouteTable(routes)
  t.equal(lookup(table, 'o.test', '/abc'), 'cfg-re', 'config.yaml routes come first')
  t.equal(lookup(table, 'o.test', '/bc'), 'p2-re')
  t.equal(lookup(table, 'o.test', '/c'), 'p2-prefix')
})

t.test('the host is chosen before the path: a wildcard host is never a fallback for paths', async (t) => {
  const routes = await loadRoutes(`
routes:
  - { name: wild-root, from: https://*.s.test, to: ${TO} }
  - { name: deep-api, from: https://*.api.s.test, prefix: /api, to: ${TO} }
  - { name: exact-admin, from: https://admin.s.test, prefix: /admin, to: ${TO} }
`)
  const table = new RouteTable(routes)
  t.equal(lookup(table, 'x.api.s.test', '/api/v1'), 'deep-api')
  t.equal(lookup(table, 'x.api.s.test', '/other'), undefined, 'the longer wildcard was chosen; *.s.test is not searched')
  t.equal(lookup(table, 'admin.s.test', '/admin'), 'exact-admin')
  t.equal(lookup(table, 'admin.s.test', '/other'), undefined, 'the exact host was chosen; *.s.test is not searched')
  t.equal(lookup(table, 'other.s.test', '/other'), 'wild-root')
})

// A large table: 100 exact hosts with 100 prefixes each (10 top-level names, each
// nested 10 deep), plus 50 wildcard hosts and a few exact paths and regexes.
t.test('a 10,000-route table answers sampled lookups correctly', async (t) => {
  const HOSTS = 100
  const TOPS = 10
  const DEPTHS = 10
  const WILDCARDS = 50
  const prefixOf = (top: number, depth: number) => `/t${top}` + '/d'.repeat(depth)
  const lines: string[] = []
  for (let h = 0; h < HOSTS; h++) {
    for (let top = 0; top < TOPS; top++) {
      for (let depth = 0; depth < DEPTHS; depth++) {
        lines.push(`  - { name: h${h}-t${top}-d${depth}, from: https://h${h}.big.test, prefix: ${prefixOf(top, depth)}, to: ${TO} }`)
      }
    }
  }
  for (let w = 0; w < WILDCARDS; w++) {
    lines.push(`  - { name: w${w}-root, from: https://*.w${w}.big.test, prefix: /, to: ${TO} }`)
    lines.push(`  - { name: w${w}-exact, from: https://*.w${w}.big.test, path: /t1/d, to: ${TO} }`)
    lines.push(`  - { name: w${w}-re, from: https://*.w${w}.big.test, regex: '/n/[0-9]+', to: ${TO} }`)
  }
  t.equal(lines.length, HOSTS * TOPS * DEPTHS + WILDCARDS * 3)
  t.ok(lines.length >= 10_000)
  // Config files are bounded to 1 MB, so the routes are spread over policy files.
  const files: Record<string, string> = {}
  const PER_FILE = 1000
  for (let i = 0; i < lines.length; i += PER_FILE) {
    files[`policies/big-${String(i / PER_FILE).padStart(3, '0')}.yaml`] = 'routes:\n' + lines.slice(i, i + PER_FILE).join('\n') + '\n'
  }
  const routes = await loadRoutes('log_level: silent\n', files)
  t.equal(routes.length, lines.length, 'every route loaded')
  const table = new RouteTable(routes)

  // Deterministic pseudo-random sampling (mulberry32), so failures are reproducible.
  let seed = 0x9e3779b9
  const random = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) % n
  }

  let checked = 0
  for (let i = 0; i < 2000; i++) {
    const h = random(HOSTS + 5) // a few hosts past the end do not exist
    const top = random(TOPS + 2) // and a few top-level names
    const depth = random(DEPTHS + 4) // deeper than any prefix: the deepest still wins
    const tail = ['', '/', '/z', 'x', '/d'.repeat(random(3))][random(5)]
    const path = prefixOf(top, depth) + tail
    const upper = random(4) === 0
    const host = `h${h}.big.test`
    let expected: string | undefined
    if (h < HOSTS && top < TOPS) {
      // `/d` repeated after the path's own depth extends the matched prefix, up to the deepest.
      const extra = tail.startsWith('/d') ? tail.length / 2 : 0
      expected = `h${h}-t${top}-d${Math.min(depth + extra, DEPTHS - 1)}`
    } else if (h < HOSTS) {
      // /t10 and /t11 are not top-level names, but the plain string prefix /t1 covers them.
      expected = `h${h}-t1-d0`
    }
    const got = lookup(table, upper ? host.toUpperCase() + '.' : host, path)
    if (got !== expected) t.fail(`${host} ${path}: expected ${expected}, got ${got}`)
    checked++
  }
  t.equal(checked, 2000)

  for (let i = 0; i < 500; i++) {
    const w = random(WILDCARDS + 3)
    const labels = ['a', 'a.b', 'x.y.z'][random(3)]
    const kind = random(5)
    const path = ['/t1/d', '/n/42', '/n/x', '/t1/d/x', '/'][kind]
    let expected: string | undefined
    if (w < WILDCARDS) expected = `w${w}-` + ['exact', 're', 'root', 'root', 'root'][kind]
    const got = lookup(table, `${labels}.w${w}.big.test`, path)
    if (got !== expected) t.fail(`${labels}.w${w}.big.test ${path}: expected ${expected}, got ${got}`)
  }

  // Hand-picked answers at the edges.
  const cases: [string, string, string | undefined][] = [
    ['h0.big.test', '/t0', 'h0-t0-d0'],
    ['h0.big.test', '/t0x', 'h0-t0-d0'],
    ['h0.big.test', '/t0/d', 'h0-t0-d1'],
    ['h0.big.test', '/t0/dd', 'h0-t0-d1'],
    ['h99.big.test', '/t9' + '/d'.repeat(9), 'h99-t9-d9'],
    ['h99.big.test', '/t9' + '/d'.repeat(30), 'h99-t9-d9'],
    ['h42.big.test:443', '/t3/d/d/other', 'h42-t3-d2'],
    ['h42.big.test', '/t', undefined],
    ['h42.big.test', '/', undefined],
    ['h42.big.test', '/T3', undefined],
    ['h42.big.test:8443', '/t3', undefined],
    ['h100.big.test', '/t0', undefined],
    ['big.test', '/t0', undefined],
    ['x.h42.big.test', '/t0', undefined],
    ['w7.big.test', '/', undefined],
    ['a.w7.big.test', '/t1/d', 'w7-exact'],
    ['a.w7.big.test', '/n/7', 'w7-re'],
    ['a.w7.big.test', '/n/7/', 'w7-root'],
  ]
  for (const [host, path, expected] of cases) {
    t.equal(lookup(table, host, path), expected, `${host} ${path} -> ${expected ?? 'none'}`)
  }
})
