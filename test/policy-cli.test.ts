// `gatehouse test` and `gatehouse explain`, run as an operator would: a separate node process.

import t, { type Test } from 'tap'
import path from 'node:path'
import { runCli, shown } from './helpers/cli.js'
import { configDir } from './helpers/gatehouse.js'

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
  - name: office
    from: https://office.example.com
    to: http://127.0.0.1:9000
    policy:
      allow:
        and:
          - source_ip: 10.0.0.0/8
          - time_of_day: { after: "08:00", before: "18:00", timezone: Europe/Paris }
  - name: closed
    from: https://closed.example.com
    to: http://127.0.0.1:9000
`

const PASSING = `route: kasm
cases:
  - name: premium member gets in
    request: { url: https://kasm.example.com/, source_ip: 10.1.2.3, time: 2026-01-05T09:00:00Z }
    user: { id: u1, email: ann@elsewhere.org, groups: [premium], claims: { amr: [mfa] } }
    expect: allow
  - name: staff by email domain
    request: { method: post, url: "https://kasm.example.com/api?x=1" }
    user: { email: bob@example.com }
    expect: allow
  - name: admin pages are denied
    request: { url: https://kasm.example.com/admin/users }
    user: { email: bob@example.com }
    expect: deny
  - name: no session means sign in
    request: { url: https://kasm.example.com/ }
    expect: sign_in
`

/** A config folder whose policies folder holds routes.yaml (ROUTES) and `files`; `file`
 *  names one of them as the CLI shows it. */
function folder(t: Test, files: Record<string, string>) {
  const dir = configDir(t, {
    config: 'policies_dir: ./policies\n',
    files: Object.fromEntries(Object.entries({ 'routes.yaml': ROUTES, ...files }).map(([name, text]) => [`policies/${name}`, text])),
  })
  return { ...dir, file: (name: string) => shown(path.join(dir.dir, 'policies', name)) }
}

/** `gatehouse test` on a `folder` holding `files`. */
async function runTests(t: Test, files: Record<string, string>) {
  const dir = folder(t, files)
  return { dir, run: await runCli(['test', '--config', dir.configFile]) }
}

t.test('the shipped policy tests pass', async (t) => {
  const run = await runCli(['test', '--config', 'config.yaml'])
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.equal(run.stderr, '')
  const lines = run.stdout.trimEnd().split('\n')
  t.ok(lines.length >= 4)
  t.ok(
    lines.slice(0, -1).every((l) => l.startsWith('PASS policies/demo')),
    run.stdout,
  )
  t.ok(lines.some((l) => l.includes('demo.test.yaml')) && lines.some((l) => l.includes('demo-private.test.yaml')))
  t.match(lines.at(-1), /^\d+ passed, 0 failed$/)
})

t.test('a passing suite prints PASS lines with verdict, reasons and rule, and exits 0', async (t) => {
  const { dir, run } = await runTests(t, { 'kasm.test.yaml': PASSING })
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stderr, '')
  const f = dir.file('kasm.test.yaml')
  t.equal(
    run.stdout,
    [
      `PASS ${f}:3:5 "premium member gets in": allow [groups-ok] by allow rule routes[0].policy[0]`,
      `PASS ${f}:7:5 "staff by email domain": allow [email-ok] by allow rule routes[0].policy[0]`,
      `PASS ${f}:11:5 "admin pages are denied": deny [http-path-ok] by deny rule routes[0].policy[1]`,
      `PASS ${f}:15:5 "no session means sign in": sign_in [user-unauthenticated], a criterion needs a signed-in user`,
      '4 passed, 0 failed',
      '',
    ].join('\n'),
  )
})

t.test('a failing case prints FAIL with expected and got, and exits 1', async (t) => {
  const { dir, run } = await runTests(t, {
    'kasm.test.yaml': PASSING,
    'office.test.yaml': `route: office
cases:
  - name: office hours from the office network
    request: { url: https://office.example.com/, source_ip: 10.9.9.9, time: 2026-01-05T09:00:00Z }
    expect: allow
  - name: night shift
    request: { url: https://office.example.com/, source_ip: 10.9.9.9, time: 2026-01-05T22:00:00Z }
    expect: allow
`,
  })
  t.equal(run.code, 1)
  t.equal(run.stderr, '')
  const f = dir.file('office.test.yaml')
  t.ok(
    run.stdout.includes(`PASS ${f}:3:5 "office hours from the office network": allow [source-ip-ok, time-of-day-ok] by allow rule routes[2].policy\n`),
    run.stdout,
  )
  t.ok(run.stdout.includes(`FAIL ${f}:6:5 "night shift": expected allow, got deny [time-of-day-unauthorized], no allow rule matched\n`), run.stdout)
  t.match(run.stdout, /\n5 passed, 1 failed\n$/)
})

t.test('a case whose URL reaches another route, or none, fails saying so', async (t) => {
  const { dir, run } = await runTests(t, {
    'kasm.test.yaml': `route: kasm
cases:
  - name: console
    request: { url: https://kasm.example.com/console/x }
    user: { email: bob@example.com }
    expect: allow
  - name: typo in the host
    request: { url: https://kasn.example.com/ }
    expect: sign_in
`,
  })
  t.equal(run.code, 1)
  const f = dir.file('kasm.test.yaml')
  t.equal(
    run.stdout,
    [
      `FAIL ${f}:3:5 "console": https://kasm.example.com/console/x reaches route kasm-console, not route kasm`,
      `FAIL ${f}:7:5 "typo in the host": https://kasn.example.com/ reaches no route, not route kasm`,
      '0 passed, 2 failed',
      '',
    ].join('\n'),
  )
})

t.test('a malformed test file is reported as file:line:col key.path, and exits 1', async (t) => {
  const { dir, run } = await runTests(t, {
    'a.test.yaml': PASSING,
    'bad.test.yaml': `route: kasm
cases:
  - name: typo
    request: { url: https://kasm.example.com/ }
    expcet: allow
  - name: unknown verdict
    request: { url: https://kasm.example.com/, source_ip: localhost }
    expect: forbidden
`,
    'unknown.test.yaml': 'route: grafana\ncases:\n  - { name: x, request: { url: "https://kasm.example.com/" }, expect: deny }\n',
    'syntax.test.yaml': 'route: kasm\ncases:\n  - name: [unclosed\n',
  })
  t.equal(run.code, 1)
  t.match(run.stdout, /^(PASS .*\n){4}4 passed, 3 failed\n$/, 'the valid file still runs, and each broken file counts as a failure')
  const bad = dir.file('bad.test.yaml')
  const lines = run.stderr.trimEnd().split('\n')
  t.same(lines.slice(0, 4), [
    `FAIL ${bad}:5:5 cases[0].expcet: unknown key (did you mean "expect"?)`,
    `FAIL ${bad}:3:5 cases[0]: missing required key "expect"`,
    `FAIL ${bad}:7:59 cases[1].request.source_ip: must be an IPv4 or IPv6 address, got "localhost"`,
    `FAIL ${bad}:8:13 cases[1].expect: must be one of allow, deny, sign_in, got "forbidden"`,
  ])
  t.match(lines[4], new RegExp(`^FAIL ${dir.file('syntax.test.yaml').replace(/[.]/g, '\\.')}:\\d+:\\d+ `))
  t.ok(lines.includes(`FAIL ${dir.file('unknown.test.yaml')}:1:8 route: no route is named "grafana"; routes: kasm, kasm-console, office, closed`), run.stderr)
  t.equal(lines.length, 6, 'every problem, each on one line')
})

t.test('no test files: said so, exit 0; a broken config: its errors, exit 1', async (t) => {
  const { dir, run: none } = await runTests(t, {})
  t.equal(none.code, 0)
  t.equal(none.stdout, `no policy tests (*.test.yaml) in ${path.join(dir.dir, 'policies')}\n`)

  const broken = configDir(t, { config: 'adress: x\n' })
  const run = await runCli(['test', '--config', broken.configFile])
  t.equal(run.code, 1)
  t.equal(run.stderr, `${shown(broken.configFile)}:1:1 adress: unknown key (did you mean "address"?)\n1 error\n`)
})

t.test('explain: allow, deny and sign_in, with the deciding rule and criteria', async (t) => {
  const dir = folder(t, {})
  const config = ['explain', '--config', dir.configFile]
  const [allow, deny, signIn, office, closed] = await Promise.all([
    runCli([...config, '--url', 'https://kasm.example.com/desktop', '--user', '{"email":"ann@elsewhere.org","groups":["premium"]}']),
    runCli([...config, '--method', 'DELETE', '--url', 'https://kasm.example.com/admin/x', '--user', '{"id":"u2","email":"bob@example.com"}']),
    runCli([...config, '--url', 'https://kasm.example.com/']),
    runCli([...config, '--url', 'https://office.example.com/', '--source-ip', '192.168.1.5', '--time', '2026-01-05T09:00:00Z']),
    runCli([...config, '--url', 'https://closed.example.com/']),
  ])
  const routes = dir.file('routes.yaml')

  t.equal(allow.code, 0, allow.stderr)
  t.match(allow.stdout, `route:    kasm (${routes}:2:5)\n`)
  t.match(allow.stdout, 'request:  GET https://kasm.example.com/desktop (path /desktop) from 127.0.0.1 at ')
  t.match(allow.stdout, 'user:     id ann@elsewhere.org, email ann@elsewhere.org, groups [premium]\n')
  t.match(allow.stdout, '\nverdict:  allow\nreasons:  groups-ok\nrule:     allow rule routes[0].policy[0]\n')
  t.match(allow.stdout, /\n {2}\* matched +routes\[0\]\.policy\[0\]\.allow\.or\[0\] +groups: \{"has":"premium"\} +groups-ok\n/)
  t.match(allow.stdout, /\n {2}\* no match +routes\[0\]\.policy\[0\]\.allow\.or\[1\] +email: \{"ends_with":"@example\.com"\} +email-unauthorized\n/)
  t.match(allow.stdout, /\n {4}no match +routes\[0\]\.policy\[1\]\.deny\.and\[0\] +http_path: \{"starts_with":"\/admin"\} +http-path-unauthorized\n/)

  t.equal(deny.code, 0, 'explain exits 0 whatever the verdict')
  t.match(deny.stdout, 'request:  DELETE https://kasm.example.com/admin/x (path /admin/x)')
  t.match(deny.stdout, '\nverdict:  deny\nreasons:  http-path-ok\nrule:     deny rule routes[0].policy[1]\n')
  t.match(deny.stdout, /\n {2}\* matched +routes\[0\]\.policy\[1\]\.deny\.and\[0\] +http_path: \{"starts_with":"\/admin"\} +http-path-ok\n/)
  t.match(deny.stdout, /\n {4}matched +routes\[0\]\.policy\[0\]\.allow\.or\[1\] +email: /, 'the allow rule matched too, but is not the deciding one')

  t.equal(signIn.code, 0)
  t.match(
    signIn.stdout,
    'user:     none (no session)\nverdict:  sign_in\nreasons:  user-unauthenticated\nrule:     none (a criterion needs a signed-in user)\n',
  )
  t.match(signIn.stdout, /\n {4}no match +routes\[0\]\.policy\[0\]\.allow\.or\[0\] +groups: \{"has":"premium"\} +user-unauthenticated\n/)

  t.equal(office.code, 0)
  t.match(office.stdout, 'from 192.168.1.5 at 2026-01-05T09:00:00.000Z\n')
  t.match(office.stdout, '\nverdict:  deny\nreasons:  source-ip-unauthorized\nrule:     none (no allow rule matched)\n')
  t.match(office.stdout, /\n {4}no match +routes\[2\]\.policy\.allow\.and\[0\] +source_ip: "10\.0\.0\.0\/8" +source-ip-unauthorized\n/)
  t.match(office.stdout, /\n {4}matched +routes\[2\]\.policy\.allow\.and\[1\] +time_of_day: .* +time-of-day-ok\n/)

  t.equal(closed.code, 0)
  t.match(closed.stdout, '\nverdict:  deny\n')
  t.match(closed.stdout, 'criteria: none evaluated (the policy has no rules, so everything is denied)\n')
})

t.test('explain: bad --user JSON, a bad URL and no route exit 1 with a message', async (t) => {
  const dir = folder(t, {})
  const config = ['explain', '--config', dir.configFile]
  const [json, shape, url, none, time, missing] = await Promise.all([
    runCli([...config, '--url', 'https://kasm.example.com/', '--user', '{email: ann}']),
    runCli([...config, '--url', 'https://kasm.example.com/', '--user', '{"email":"ann@example.com","group":["x"]}']),
    runCli([...config, '--url', 'kasm.example.com/admin']),
    runCli([...config, '--url', 'https://grafana.example.com/']),
    runCli([...config, '--url', 'https://kasm.example.com/', '--time', 'tomorrow']),
    runCli([...config]),
  ])
  t.equal(json.code, 1)
  t.equal(json.stdout, '')
  t.match(json.stderr, /^gatehouse: --user is not valid JSON: /)
  t.equal(shape.code, 1)
  t.equal(shape.stderr, 'gatehouse: --user group: unknown key (did you mean "groups"?)\n')
  t.equal(url.code, 1)
  t.equal(url.stderr, 'gatehouse: --url must be an http or https URL such as https://app.example.com/path, got "kasm.example.com/admin"\n')
  t.equal(none.code, 1)
  t.equal(none.stderr, 'gatehouse: no route matches https://grafana.example.com/ (host grafana.example.com, path /); the proxy would answer 404\n')
  t.equal(time.code, 1)
  t.match(time.stderr, /^gatehouse: --time must be an ISO 8601 time/)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^explain needs --url\nusage: gatehouse/)
})

t.test('the usage names test and explain; explain options elsewhere are refused', async (t) => {
  const [help, misplaced] = await Promise.all([runCli(['--help']), runCli(['check', '--url', 'https://x.example.com/'])])
  t.match(help.stdout, /\n {2}test +--config FILE/)
  t.match(help.stdout, /\n {2}explain --config FILE --url URL/)
  t.equal(misplaced.code, 2)
  t.match(misplaced.stderr, /^--url is an option of explain, not of check\n/)
})
