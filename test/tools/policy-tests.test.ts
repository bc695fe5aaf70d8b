// The policy-test runner and explain's request model, called directly (the CLI around
// them is tested in test/policy-cli.test.ts).

import t, { type Test } from 'tap'
import path from 'node:path'
import { writeFileSync } from 'node:fs'
import type { Config } from '../../src/config/compile.js'
import { loadConfig } from '../../src/config/load.js'
import { explainRequest, formatExplanation, requestFromFlags } from '../../src/tools/explain.js'
import {
  buildPolicyInput,
  formatResult,
  loadPolicyTests,
  parseTestFile,
  parseTime,
  parseUrl,
  parseUserJson,
  runPolicyTests,
  summarize,
  type TestRequest,
} from '../../src/tools/policy-tests.js'
import type { ConfigIssue } from '../../src/errors.js'
import { configDir } from '../helpers/gatehouse.js'

const ROUTES = `routes:
  - name: kasm
    from: https://kasm.example.com
    to: http://127.0.0.1:9000
    policy:
      - allow:
          or:
            - groups: { has: premium }
            - email: { ends_with: "@example.com" }
      - deny:
          and:
            - http_path: { starts_with: /admin }
  - name: kasm-console
    from: https://kasm.example.com
    prefix: /console
    to: http://127.0.0.1:9000
    allowed_groups: [admins]
  - from: https://office.example.com:8443
    to: http://127.0.0.1:9000
    policy:
      allow:
        and:
          - source_ip: 10.0.0.0/8
          - time_of_day: { after: "08:00", before: "18:00", timezone: Europe/Paris }
          - cors_preflight: true
`

async function configWith(t: Test, files: Record<string, string> = {}): Promise<{ config: Config; dir: string }> {
  const dir = configDir(t, { config: 'policies_dir: ./policies\n', files: { 'policies/routes.yaml': ROUTES, ...files } })
  return { config: await loadConfig(dir.configFile, { env: {} }), dir: dir.dir }
}

/** A request as explain's flags would give it. */
function request(flags: Parameters<typeof requestFromFlags>[0]): TestRequest {
  const parsed = requestFromFlags(flags)
  if ('error' in parsed) throw new Error(parsed.error)
  return parsed.value
}

t.test('parseUrl splits host and port as the proxy does and normalises the path', async (t) => {
  t.strictSame(parseUrl('https://Kasm.Example.com'), { value: { hostname: 'kasm.example.com', port: undefined, path: '/' } })
  t.strictSame(parseUrl('https://kasm.example.com:443/a/./b/../c?x=1#top'), { value: { hostname: 'kasm.example.com', port: undefined, path: '/a/c' } })
  t.strictSame(parseUrl('http://office.example.com:8443?q'), { value: { hostname: 'office.example.com', port: '8443', path: '/' } })
  t.strictSame(parseUrl('http://x.example.com/%61dmin'), { value: { hostname: 'x.example.com', port: undefined, path: '/admin' } })
  t.match(parseUrl('ftp://x.example.com/'), { error: /must be an http or https URL/ })
  t.match(parseUrl('https://ann:pw@x.example.com/'), { error: /invalid host "ann:pw@x.example.com"/ })
  t.match(parseUrl('https://x.example.com/../etc'), { error: /refused by Gatehouse as a request would be: the path climbs above the root/ })
  t.match(parseUrl('https://x.example.com/a;b'), { error: /path parameters/ })
})

t.test('parseTime wants ISO 8601 with a zone', async (t) => {
  t.strictSame(parseTime('2026-01-05T09:00:00Z'), { value: Date.UTC(2026, 0, 5, 9) })
  t.strictSame(parseTime('2026-01-05T10:00:00+01:00'), { value: Date.UTC(2026, 0, 5, 9) })
  t.strictSame(parseTime('2026-01-05'), { value: Date.UTC(2026, 0, 5) })
  t.match(parseTime('2026-01-05T09:00:00'), { error: /with a zone/ })
  t.match(parseTime('yesterday'), { error: /ISO 8601/ })
  t.match(parseTime('2026-13-45T09:00:00Z'), { error: /ISO 8601/ })
})

t.test('requestFromFlags applies the defaults and checks every flag', async (t) => {
  const r = request({ url: 'https://kasm.example.com/x', headers: ['Origin: https://app.example.com'] })
  t.equal(r.method, 'GET')
  t.equal(r.sourceIp, '127.0.0.1')
  t.equal(r.time, undefined)
  t.strictSame(r.headers, { origin: 'https://app.example.com' })
  t.equal(request({ url: 'https://x.example.com/', method: 'options', sourceIp: '::ffff:10.1.2.3' }).method, 'OPTIONS')
  t.equal(request({ url: 'https://x.example.com/', sourceIp: '::ffff:10.1.2.3' }).sourceIp, '10.1.2.3', 'IPv4-mapped addresses count as IPv4')
  t.match(requestFromFlags({ url: 'https://x.example.com/', sourceIp: '10.1.2' }), { error: /^--source-ip must be an IPv4 or IPv6 address/ })
  t.match(requestFromFlags({ url: 'https://x.example.com/', method: 'GE T' }), { error: /^--method must be an HTTP method/ })
  t.match(requestFromFlags({ url: 'https://x.example.com/', time: 'noon' }), { error: /^--time must be an ISO 8601 time/ })
  t.match(requestFromFlags({ url: 'https://x.example.com/', headers: ['Origin'] }), { error: /^--header must be "Name: value"/ })
  t.match(requestFromFlags({ url: 'kasm.example.com' }), { error: /^--url must be an http or https URL/ })
})

t.test('buildPolicyInput: the user id defaults to the email; no user means no session', async (t) => {
  const r = request({ url: 'https://kasm.example.com/a', method: 'OPTIONS', time: '2026-01-05T09:00:00Z', headers: ['Access-Control-Request-Method: PUT'] })
  const user = parseUserJson('{"email":"Ann@Example.com","groups":["premium"],"claims":{"amr":["mfa"],"price":"$$5"}}')
  if ('error' in user) throw new Error(user.error)
  t.strictSame(
    user.value,
    { id: 'Ann@Example.com', email: 'Ann@Example.com', groups: ['premium'], claims: { amr: ['mfa'], price: '$$5' } },
    '$ in JSON values is taken literally',
  )
  const input = buildPolicyInput(r, user.value, 1)
  t.match(input.request, {
    method: 'OPTIONS',
    path: '/a',
    host: 'kasm.example.com',
    sourceIp: '127.0.0.1',
    time: Date.UTC(2026, 0, 5, 9),
    origin: undefined,
    accessControlRequestMethod: 'PUT',
  })
  t.match(input.user, { id: 'Ann@Example.com', email: 'ann@example.com', domain: 'example.com', groups: ['premium'] })
  t.equal(buildPolicyInput(request({ url: 'https://kasm.example.com/' }), undefined, 42).request.time, 42, 'no time: now')
  t.equal(buildPolicyInput(r, undefined).user, undefined)
})

t.test('parseUserJson names what is wrong', async (t) => {
  t.match(parseUserJson('{"email": '), { error: /^--user is not valid JSON: / })
  t.match(parseUserJson('["ann"]'), { error: /^--user must be a JSON object/ })
  t.match(parseUserJson('{"emails":"a@example.com"}'), { error: '--user emails: unknown key (did you mean "email"?)' })
  t.match(parseUserJson('{"email":"a@example.com","groups":"admins"}'), { error: '--user groups: must be a list of a string, got the string "admins"' })
  t.match(parseUserJson('{"groups":["admins"]}'), { error: '--user: a user needs an id or an email (the id defaults to the email)' })
  t.strictSame(parseUserJson('{"id":"u1"}'), { value: { id: 'u1', email: undefined, groups: [], claims: {} } })
})

t.test('a test file is read with file:line:col errors, unknown keys included', async (t) => {
  const { config } = await configWith(t)
  const issues: ConfigIssue[] = []
  const text = [
    'route: kasm',
    'cases:',
    '  - name: one',
    '    request: { url: https://kasm.example.com/, mehtod: GET }',
    '    expect: allowed',
    '  - name: two',
    '    request: { url: "https://kasm.example.com/../x", time: 9am }',
    '    user: { groups: [premium] }',
    '    expect: allow',
    '  - request: { url: https://kasm.example.com/ }',
    '    expect: deny',
    '',
  ].join('\n')
  t.equal(parseTestFile(text, 'k.test.yaml', config.routes, {}, issues), undefined)
  t.strictSame(
    issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}: ${i.message}`),
    [
      'k.test.yaml:4:48 cases[0].request.mehtod: unknown key (did you mean "method"?)',
      'k.test.yaml:5:13 cases[0].expect: must be one of allow, deny, sign_in, got "allowed" (did you mean "allow"?)',
      'k.test.yaml:7:21 cases[1].request.url: is refused by Gatehouse as a request would be: the path climbs above the root (..)',
      'k.test.yaml:7:60 cases[1].request.time: must be an ISO 8601 time with a zone, such as 2026-01-05T09:00:00Z or 2026-01-05T10:00:00+01:00, got "9am"',
      'k.test.yaml:8:11 cases[1].user: a user needs an id or an email (the id defaults to the email)',
      'k.test.yaml:10:5 cases[2]: missing required key "name"',
    ],
  )
})

t.test('a test file naming an unknown route is an error, with a hint', async (t) => {
  const { config } = await configWith(t)
  const issues: ConfigIssue[] = []
  const text = 'route: kams\ncases:\n  - name: x\n    request: { url: https://kasm.example.com/ }\n    expect: deny\n'
  t.equal(parseTestFile(text, 'k.test.yaml', config.routes, {}, issues), undefined)
  t.strictSame(issues, [{ file: 'k.test.yaml', line: 1, col: 8, path: 'route', message: 'no route is named "kams" (did you mean "kasm"?)' }])

  const close: ConfigIssue[] = []
  parseTestFile(text.replace('kams', 'kasmm'), 'k.test.yaml', config.routes, {}, close)
  t.match(close, [{ message: 'no route is named "kasmm" (did you mean "kasm"?)' }])

  const far: ConfigIssue[] = []
  parseTestFile(text.replace('kams', 'billing'), 'k.test.yaml', config.routes, {}, far)
  t.match(
    far,
    [{ message: 'no route is named "billing"; routes: kasm, kasm-console, https://office.example.com:8443' }],
    'no close name: the known routes are listed',
  )

  const empty: ConfigIssue[] = []
  t.equal(parseTestFile('route: kasm\ncases: []\n', 'k.test.yaml', config.routes, {}, empty), undefined)
  t.match(empty, [{ line: 2, col: 8, path: 'cases', message: 'must have at least 1 item' }])
})

t.test('a route without a name is named by its id', async (t) => {
  const { config } = await configWith(t)
  const issues: ConfigIssue[] = []
  const text = 'route: https://office.example.com:8443\ncases:\n  - name: x\n    request: { url: "https://office.example.com:8443/" }\n    expect: deny\n'
  const file = parseTestFile(text, 'o.test.yaml', config.routes, {}, issues)
  t.strictSame(issues, [])
  t.equal(file?.route.id, 'https://office.example.com:8443')
})

t.test('a route name two routes share is ambiguous', async (t) => {
  const { config } = await configWith(t, {
    'policies/twin.yaml': 'routes:\n  - name: kasm\n    from: https://twin.example.com\n    to: http://127.0.0.1:9000\n',
  })
  const issues: ConfigIssue[] = []
  t.equal(
    parseTestFile(
      'route: kasm\ncases:\n  - { name: x, request: { url: "https://kasm.example.com/" }, expect: deny }\n',
      'k.test.yaml',
      config.routes,
      {},
      issues,
    ),
    undefined,
  )
  t.match(issues, [
    { line: 1, col: 8, path: 'route', message: /^2 routes are named "kasm" \(.*routes\.yaml:2:5, .*twin\.yaml:2:5\); give them distinct names$/ },
  ])
})

t.test('cases run against the route table: verdicts, wrong routes, no route', async (t) => {
  const { config, dir } = await configWith(t, {
    'policies/kasm.test.yaml': [
      'route: kasm',
      'cases:',
      '  - name: premium member gets in',
      '    request: { url: https://kasm.example.com/ }',
      '    user: { email: ann@elsewhere.org, groups: [premium] }',
      '    expect: allow',
      '  - name: admin path is denied even to premium',
      '    request: { url: https://kasm.example.com/admin/x }',
      '    user: { email: ann@elsewhere.org, groups: [premium] }',
      '    expect: allow',
      '  - name: no session',
      '    request: { url: https://kasm.example.com/ }',
      '    expect: sign_in',
      '  - name: the console is another route',
      '    request: { url: https://kasm.example.com/console/ }',
      '    expect: sign_in',
      '  - name: an unknown host',
      '    request: { url: https://nowhere.example.com/ }',
      '    expect: deny',
      '',
    ].join('\n'),
    'policies/kasm.yaml.bak': 'not read',
  })
  writeFileSync(path.join(dir, 'policies', 'broken.test.yml'), 'route: kasm\ncases:\n  - name: x\n    expect: deny\n')
  const loaded = await loadPolicyTests(config, { env: {} })
  t.equal(loaded.found, 2)
  t.equal(loaded.files.length, 1)
  t.match(loaded.issues, [{ file: /broken\.test\.yml$/, line: 3, col: 5, path: 'cases[0]', message: 'missing required key "request"' }])

  const results = runPolicyTests(config, loaded.files, Date.UTC(2026, 0, 5, 9))
  const file = loaded.files[0].file
  t.strictSame(results.map(formatResult), [
    `PASS ${file}:3:5 "premium member gets in": allow [groups-ok] by allow rule routes[0].policy[0]`,
    `FAIL ${file}:7:5 "admin path is denied even to premium": expected allow, got deny [http-path-ok] by deny rule routes[0].policy[1]`,
    `PASS ${file}:11:5 "no session": sign_in [user-unauthenticated], a criterion needs a signed-in user`,
    `FAIL ${file}:14:5 "the console is another route": https://kasm.example.com/console/ reaches route kasm-console, not route kasm`,
    `FAIL ${file}:17:5 "an unknown host": https://nowhere.example.com/ reaches no route, not route kasm`,
  ])
  t.strictSame(summarize(results), { passed: 2, failed: 3 })
})

t.test('a policies folder without test files has none to run', async (t) => {
  const { config } = await configWith(t)
  t.strictSame(await loadPolicyTests(config), { files: [], issues: [], found: 0 })
})

t.test('explainRequest traces every criterion and marks the deciding rule', async (t) => {
  const { config } = await configWith(t)
  const explained = explainRequest(config, request({ url: 'https://kasm.example.com/admin' }), { id: 'u1', email: 'bob@example.com', groups: ['staff'] })
  if ('error' in explained) throw new Error(explained.error)
  t.equal(explained.value.route.id, 'kasm')
  t.equal(explained.value.explanation.decision.verdict, 'deny')
  const lines = formatExplanation(explained.value, request({ url: 'https://kasm.example.com/admin' }))
  t.match(lines[0], /^route: +kasm \(policies\/routes\.yaml:2:5\)$|^route: +kasm \(.*routes\.yaml:2:5\)$/)
  t.match(lines, [
    /^route:/,
    /^request: +GET https:\/\/kasm\.example\.com\/admin \(path \/admin\) from 127\.0\.0\.1 at /,
    'user:     id u1, email bob@example.com, groups [staff]',
    'verdict:  deny',
  ])
  t.ok(lines.includes('rule:     deny rule routes[0].policy[1]'))
  t.ok(
    lines.some((l) => /^ {4}no match +routes\[0\]\.policy\[0\]\.allow\.or\[0\] +groups: \{"has":"premium"\} +groups-unauthorized$/.test(l)),
    lines.join('\n'),
  )
  t.ok(
    lines.some((l) => /^ {4}matched +routes\[0\]\.policy\[0\]\.allow\.or\[1\] +email: \{"ends_with":"@example\.com"\} +email-ok$/.test(l)),
    'criteria of other rules are not marked',
  )
  t.ok(lines.some((l) => /^ {2}\* matched +routes\[0\]\.policy\[1\]\.deny\.and\[0\] +http_path: \{"starts_with":"\/admin"\} +http-path-ok$/.test(l)))

  const none = explainRequest(config, request({ url: 'https://office.example.com/' }), undefined)
  t.match(none, { error: 'no route matches https://office.example.com/ (host office.example.com, path /); the proxy would answer 404' })
})
