// The gatehouse command line, run as an operator would: a separate node process.

import t from 'tap'
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import path from 'node:path'
import { ROOT, runCli, shown } from './helpers/cli.js'
import { configDir } from './helpers/gatehouse.js'

t.test('check accepts the shipped config.yaml', async (t) => {
  const run = await runCli(['check', '--config', 'config.yaml'])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^config\.yaml: OK \(\d+ routes?\)\n$/)
  t.equal(run.stderr, '')
})

t.test('check reads ./config.yaml when --config is not given, and accepts -c', async (t) => {
  const [plain, short] = await Promise.all([runCli(['check']), runCli(['check', '-c', path.join(ROOT, 'config.yaml')])])
  t.equal(plain.code, 0, plain.stderr)
  t.match(plain.stdout, /^config\.yaml: OK \(\d+ routes?\)\n$/)
  t.equal(short.code, 0, short.stderr)
  t.equal(short.stdout, plain.stdout.replace(/^config\.yaml/, path.join(ROOT, 'config.yaml')))
})

t.test('check counts the routes of config.yaml and policies/*.yaml', async (t) => {
  const dir = configDir(t, {
    config: 'routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n',
    files: { 'policies/b.yaml': 'routes:\n  - from: http://b.example.com\n    to: ${UPSTREAM}\n' },
  })
  const run = await runCli(['check', '--config', dir.configFile], { UPSTREAM: 'http://127.0.0.1:9001' })
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stdout, `${dir.configFile}: OK (2 routes)\n`)

  const one = configDir(t, { config: 'routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n' })
  const single = await runCli(['check', '--config', one.configFile])
  t.equal(single.stdout, `${one.configFile}: OK (1 route)\n`)
})

t.test('check lists every error as file:line:col on stderr and exits 1', async (t) => {
  const dir = configDir(t, {
    config: 'log_level: loud\nroutes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    tiemout: 5s\n',
    files: {
      'policies/kasm.yaml': [
        'routes:',
        '  - from: https://kasm.example.com',
        '    to: https://10.0.0.5:8443',
        '  - from: https://kasm-admin.example.com/admin',
        '    to: https://admin:pw@10.0.0.5:8443',
        '    allow_websockets: yes',
        '',
      ].join('\n'),
      'policies/other.yaml': 'routes:\n  - to: ${MISSING_UPSTREAM}\n',
    },
  })
  const run = await runCli(['check', '--config', dir.configFile])
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  const config = shown(dir.configFile)
  const kasm = shown(path.join(dir.dir, 'policies/kasm.yaml'))
  const other = shown(path.join(dir.dir, 'policies/other.yaml'))
  t.strictSame(run.stderr.split('\n'), [
    `${config}:1:12 log_level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"`,
    `${config}:5:5 routes[0].tiemout: unknown key (did you mean "timeout"?)`,
    `${kasm}:4:11 routes[1].from: must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "https://kasm-admin.example.com/admin"`,
    `${kasm}:5:9 routes[1].to: must not contain user info (use set_request_headers for credentials)`,
    `${kasm}:6:23 routes[1].allow_websockets: must be true or false; "yes" is a string in YAML 1.2 (write true or false)`,
    `${other}:2:9 routes[0].to: environment variable MISSING_UPSTREAM is not set`,
    `${other}:2:5 routes[0]: missing required key "from"`,
    '7 errors',
    '',
  ])
})

t.test('check names a single error in the singular', async (t) => {
  const dir = configDir(t, { config: 'adress: 127.0.0.1:1\n' })
  const run = await runCli(['check', '--config', dir.configFile])
  t.equal(run.code, 1)
  t.equal(run.stderr, `${shown(dir.configFile)}:1:1 adress: unknown key (did you mean "address"?)\n1 error\n`)
})

t.test('check reports cross-route problems (duplicates) with both locations', async (t) => {
  const dir = configDir(t, {
    config: 'routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n',
    files: { 'policies/copy.yaml': '# same again\nroutes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9001\n' },
  })
  const run = await runCli(['check', '--config', dir.configFile])
  t.equal(run.code, 1)
  t.equal(
    run.stderr,
    `${shown(path.join(dir.dir, 'policies/copy.yaml'))}:3:5 routes[0]: duplicate route: ${shown(dir.configFile)}:2:5 already routes a.example.com with prefix /\n1 error\n`,
  )
})

t.test('check on a missing file exits 1 with the reason', async (t) => {
  const run = await runCli(['check', '--config', 'does-not-exist.yaml'])
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  t.equal(run.stderr, 'does-not-exist.yaml:1:1 cannot be read: ENOENT\n1 error\n')
})

t.test('keys prints a 32-byte base64 secret and an ES256 private key', async (t) => {
  const [first, second] = await Promise.all([runCli(['keys']), runCli(['keys'])])
  t.equal(first.code, 0, first.stderr)
  t.equal(first.stderr, '')
  const lines = first.stdout.split('\n')
  const secretLine = lines.find((line) => /^[A-Za-z0-9+/]+=*$/.test(line) && !line.startsWith('-'))
  t.ok(secretLine, 'a base64 line is printed')
  const secret = Buffer.from(secretLine ?? '', 'base64')
  t.equal(secret.length, 32)
  t.equal(secret.toString('base64'), secretLine, 'canonical base64')

  const pem = /-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n/.exec(first.stdout)?.[0]
  t.ok(pem, 'a PKCS#8 PEM block is printed')
  const key = createPrivateKey(pem ?? '')
  t.equal(key.asymmetricKeyType, 'ec')
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'P-256')
  const data = Buffer.from('gatehouse')
  const signature = sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' })
  t.equal(signature.length, 64, 'ES256 signatures are 64 bytes')
  t.ok(verify('sha256', data, { key: createPublicKey(key), dsaEncoding: 'ieee-p1363' }, signature))

  t.equal(second.code, 0)
  t.not(second.stdout, first.stdout, 'every run makes fresh keys')
})

t.test('an unknown command exits 2 with the usage on stderr', async (t) => {
  const run = await runCli(['frobnicate'])
  t.equal(run.code, 2)
  t.equal(run.stdout, '')
  t.match(run.stderr, /^unknown command "frobnicate"\nusage: gatehouse <command>/)
  t.match(run.stderr, /check\s+--config FILE/)
})

t.test('an unknown option exits 2 with the usage on stderr', async (t) => {
  const run = await runCli(['check', '--confg', 'x.yaml'])
  t.equal(run.code, 2)
  t.match(run.stderr, /Unknown option '--confg'/)
  t.match(run.stderr, /usage: gatehouse <command>/)
})

t.test('no command prints the usage and exits 2; --help exits 0', async (t) => {
  const [none, help] = await Promise.all([runCli([]), runCli(['--help'])])
  t.equal(none.code, 2)
  t.match(none.stdout, /^usage: gatehouse <command> \[options\]/)
  t.equal(help.code, 0)
  t.equal(help.stdout, none.stdout)
})

t.test('check refuses first what serve would refuse, with the same file:line:col lines', async (t) => {
  const configs = {
    'a session secret that is not a key': 'address: 127.0.0.1:0\nsession:\n  secrets: [not-a-key]\n',
    'a __Host- cookie with a domain': 'address: 127.0.0.1:0\nsession:\n  cookie_name: __Host-gh\n  domain: example.com\n',
    'a TLS pair that is not PEM': 'address: 127.0.0.1:0\ntls_cert_file: cert.pem\ntls_key_file: key.pem\n',
    'the demo in production': 'address: 127.0.0.1:0\ndemo:\n  upstream: 127.0.0.1:0\n',
  }
  for (const [name, config] of Object.entries(configs)) {
    const dir = configDir(t, { config, files: { 'cert.pem': 'CERT', 'key.pem': 'KEY' } })
    const env = { NODE_ENV: 'production' }
    const [check, serve] = await Promise.all([runCli(['check', '--config', dir.configFile], env), runCli(['serve', '--config', dir.configFile], env)])
    t.equal(check.code, 1, `${name}: check refuses`)
    t.equal(serve.code, 1, `${name}: serve refuses`)
    const where = `${shown(dir.configFile)}:`
    const checkLines = check.stderr.split('\n').filter((l) => l.startsWith(where))
    t.ok(checkLines.length > 0 && checkLines.every((l) => /:\d+:\d+ /.test(l)), `${name}: file:line:col`)
    t.strictSame(
      serve.stderr.split('\n').filter((l) => l.startsWith(where)),
      checkLines,
      `${name}: serve says the same`,
    )
  }
})

t.test('check prints warnings with file:line:col and still passes', async (t) => {
  const dir = configDir(t, { config: 'routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    policy: {}\n' })
  const run = await runCli(['check', '--config', dir.configFile])
  t.equal(run.code, 0, 'an empty policy loads (and denies)')
  t.match(
    run.stderr,
    new RegExp(
      `^warning: ${shown(dir.configFile).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:13 routes\\[0\\]\\.policy: an empty policy denies every request`,
      'm',
    ),
  )
})

t.test('keys --out writes an owner-only cookie secret and signing key, and never overwrites them', async (t) => {
  const dir = configDir(t, { config: '' })
  const out = path.join(dir.dir, 'keys')
  const run = await runCli(['keys', '--out', out])
  t.equal(run.code, 0, run.stderr)
  const { readFileSync, statSync } = await import('node:fs')
  const secret = readFileSync(path.join(out, 'cookie-secret'), 'utf8').trim()
  t.equal(Buffer.from(secret, 'base64').length, 32)
  t.equal(statSync(path.join(out, 'signing.pem')).mode & 0o777, 0o600, 'owner-only')
  t.match(readFileSync(path.join(out, 'signing.pem'), 'utf8'), /BEGIN PRIVATE KEY/)
  const again = await runCli(['keys', '--out', out])
  t.equal(again.code, 1, 'refuses to overwrite')
  t.equal(readFileSync(path.join(out, 'cookie-secret'), 'utf8').trim(), secret, 'the first secret is kept')
  const misplaced = await runCli(['check', '--out', out])
  t.equal(misplaced.code, 2)
})

t.test('an unknown command gets a suggestion', async (t) => {
  const run = await runCli(['chek'])
  t.equal(run.code, 2)
  t.match(run.stderr, /^unknown command "chek" \(did you mean "check"\?\)/)
})

t.test('a busy port is named, with the setting to change', async (t) => {
  const net = await import('node:net')
  const busy = net.createServer()
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => busy.close(() => r())))
  const port = (busy.address() as import('node:net').AddressInfo).port
  const dir = configDir(t, { config: `address: 127.0.0.1:${port}\nlog_level: silent\n` })
  const run = await runCli(['serve', '--config', dir.configFile])
  t.equal(run.code, 1)
  t.match(
    run.stderr,
    new RegExp(`Gatehouse cannot listen on 127\\.0\\.0\\.1:${port}: another process already listens there; stop it or change address in config\\.yaml`),
  )
  const metrics = configDir(t, { config: `address: 127.0.0.1:0\nmetrics_address: 127.0.0.1:${port}\nlog_level: silent\n` })
  const second = await runCli(['serve', '--config', metrics.configFile])
  t.equal(second.code, 1)
  t.match(second.stderr, /the metrics listener cannot listen on .*: another process already listens there; stop it or change metrics_address/)
})

t.test('check warns about a route nobody can enter, and still passes', async (t) => {
  const dir = configDir(t, {
    config:
      'routes:\n  - name: locked\n    from: http://a.example.com\n    to: http://127.0.0.1:9000\n  - name: denies\n    from: http://b.example.com\n    to: http://127.0.0.1:9000\n    policy:\n      - deny: { or: [{ accept: true }] }\n  - name: open\n    from: http://c.example.com\n    to: http://127.0.0.1:9000\n    allow_public_unauthenticated_access: true\n',
  })
  const run = await runCli(['check', '--config', dir.configFile])
  t.equal(run.code, 0)
  const warnings = run.stderr.split('\n').filter((l) => l.startsWith('warning: '))
  t.equal(warnings.length, 2, run.stderr)
  t.match(warnings[0], /:2:5 routes\[0\]: no policy lets anyone into route locked/)
  t.match(warnings[1], /no policy lets anyone into route denies/)
})
