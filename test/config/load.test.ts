// Loading a valid configuration: files found, defaults applied, environment substituted.

import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { ConfigError, formatIssue } from '../../src/errors.js'
import { writeConfigDir, type ConfigFiles } from '../helpers/gatehouse.js'

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'tls')
const CERT = readFileSync(path.join(FIXTURES, 'server.pem'), 'utf8')
const KEY = readFileSync(path.join(FIXTURES, 'server-key.pem'), 'utf8')

/** The part of a tap test the helpers need. */
interface Test {
  teardown(fn: () => void): void
  fail(message: string): boolean
}

/** A config folder removed when the test ends. */
function folder(tt: Test, files: ConfigFiles) {
  const written = writeConfigDir(files)
  tt.teardown(written.cleanup)
  return written
}

/** How the loader names a file in messages (relative to the working directory when inside it). */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file)
  return rel && !rel.startsWith('..') ? rel : file
}

/** Loads and fails the test with every issue listed when the config is refused. */
async function load(tt: Test, files: ConfigFiles, env: Record<string, string> = {}) {
  const written = folder(tt, files)
  try {
    return { ...written, config: await loadConfig(written.configFile, { env }) }
  } catch (err) {
    if (err instanceof ConfigError) tt.fail(`refused:\n${err.issues.map(formatIssue).join('\n')}`)
    throw err
  }
}

async function refusal(tt: Test, files: ConfigFiles, env: Record<string, string> = {}) {
  const written = folder(tt, files)
  const err = await loadConfig(written.configFile, { env }).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`)
  return { ...written, err, lines: err.issues.map(formatIssue) }
}

const route = (from: string, to = 'http://127.0.0.1:9000', extra = '') => `  - from: ${from}\n    to: ${to}\n${extra}`

t.test('an empty config.yaml is valid and every setting takes its default', async (t) => {
  const { config, configFile, dir } = await load(t, { config: '' })
  t.strictSame(config.address, { host: '0.0.0.0', port: 8080 })
  t.equal(config.logLevel, 'info')
  t.equal(config.shutdownTimeoutMs, 10_000)
  t.equal(config.tls, undefined)
  t.strictSame(config.trustedProxies, [])
  t.equal(config.isTrustedProxy('127.0.0.1'), false, 'nobody is trusted by default')
  t.equal(config.demo, undefined)
  t.strictSame(config.routes, [])
  t.equal(config.configFile, configFile)
  t.equal(config.policiesDir, path.join(dir, 'policies'), 'policies_dir defaults to policies/ next to config.yaml')
  t.ok(Object.isFrozen(config))
})

t.test('a config.yaml holding only comments is valid too', async (t) => {
  const { config } = await load(t, { config: '# nothing configured yet\n\n# really\n' })
  t.strictSame(config.address, { host: '0.0.0.0', port: 8080 })
  t.strictSame(config.routes, [])
})

t.test('route defaults', async (t) => {
  const { config } = await load(t, { config: `routes:\n${route('https://App.Example.com')}` })
  t.equal(config.routes.length, 1)
  const [r] = config.routes
  t.equal(r.timeoutMs, 30_000, 'timeout defaults to 30s')
  t.equal(r.idleTimeoutMs, 300_000, 'idle_timeout defaults to 5m')
  t.equal(r.websocketIdleTimeoutMs, 0)
  t.equal(r.allowWebsockets, false)
  t.equal(r.passIdentityHeaders, false)
  t.equal(r.policy.rules.length, 0, 'no policy: nothing is allowed by default')
  t.strictSame(r.match, { kind: 'prefix', value: '/' })
  t.strictSame(r.hostHeader, { kind: 'upstream' })
  t.strictSame(r.tls, { skipVerify: false, serverName: undefined, ca: undefined, caFile: undefined })
  t.strictSame(r.origin, { scheme: 'https', hostname: 'app.example.com', port: undefined })
  t.equal(r.hostKey, 'app.example.com')
  t.equal(r.id, 'https://app.example.com')
  t.strictSame(r.upstreams, [{ origin: 'http://127.0.0.1:9000', protocol: 'http:', hostname: '127.0.0.1', port: 9000, host: '127.0.0.1:9000', weight: 1 }])
})

t.test('settings are read and converted', async (t) => {
  const { config, dir } = await load(t, {
    config: [
      'address: "[::1]:8443"',
      'log_level: debug',
      'shutdown_timeout: 1m30s',
      'trusted_proxies: [10.0.0.0/8, loopback]',
      'tls_cert_file: certs/cert.pem',
      'tls_key_file: certs/key.pem',
      'demo:',
      '  upstream: 127.0.0.1:8081',
      'routes:',
      '  - name: app',
      '    from: https://app.example.com:8443',
      '    to: ["http://10.0.0.1:80,3", http://10.0.0.2]',
      '    path: /exact',
      '    timeout: 250ms',
      '    idle_timeout: 0',
      '    allow_websockets: true',
      '    preserve_host_header: true',
      '    tls_custom_ca_file: certs/ca.pem',
      '    set_request_headers: { X-Team: blue }',
      '    remove_request_headers: [Cookie]',
      '',
    ].join('\n'),
    files: { 'certs/cert.pem': CERT, 'certs/key.pem': KEY, 'certs/ca.pem': 'CA\n' },
  })
  t.strictSame(config.address, { host: '::1', port: 8443 })
  t.equal(config.logLevel, 'debug')
  t.equal(config.shutdownTimeoutMs, 90_000)
  t.strictSame(config.trustedProxies, ['10.0.0.0/8', 'loopback'])
  t.equal(config.isTrustedProxy('10.1.2.3'), true)
  t.equal(config.isTrustedProxy('127.0.0.1'), true)
  t.equal(config.isTrustedProxy('192.168.1.1'), false)
  t.strictSame(config.tls, { cert: CERT, key: KEY }, 'TLS files are read relative to config.yaml')
  t.strictSame(config.demo, { upstream: { host: '127.0.0.1', port: 8081 }, idp: undefined })
  const [r] = config.routes
  t.equal(r.id, 'app')
  t.equal(r.hostKey, 'app.example.com:8443')
  t.strictSame(r.match, { kind: 'path', value: '/exact' })
  t.strictSame(
    r.upstreams.map((u) => [u.origin, u.weight]),
    [
      ['http://10.0.0.1', 3],
      ['http://10.0.0.2', 1],
    ],
  )
  t.equal(r.timeoutMs, 250)
  t.equal(r.idleTimeoutMs, 0)
  t.equal(r.allowWebsockets, true)
  t.strictSame(r.hostHeader, { kind: 'preserve' })
  t.equal(r.tls.ca, 'CA\n')
  t.equal(r.tls.caFile, path.join(dir, 'certs/ca.pem'))
  t.strictSame(r.setRequestHeaders, [['x-team', 'blue']])
  t.strictSame([...r.removeRequestHeaders], ['cookie'])
})

t.test('routes come from config.yaml and every policies/*.yaml, *.test.yaml excluded', async (t) => {
  const { config, dir } = await load(t, {
    config: `routes:\n${route('http://main.example.com')}`,
    files: {
      'policies/b.yaml': `routes:\n${route('http://b.example.com')}`,
      'policies/a.yml': `routes:\n${route('http://a1.example.com')}${route('http://a2.example.com')}`,
      // Policy tests and other files are not route files: broken ones must not matter.
      'policies/a.test.yaml': 'this: [is not a routes file\n',
      'policies/b.test.yml': 'tests: []\n',
      'policies/README.md': '# notes\n',
      'policies/empty.yaml': '',
    },
  })
  t.strictSame(
    config.routes.map((r) => r.hostKey),
    ['main.example.com', 'a1.example.com', 'a2.example.com', 'b.example.com'],
    'config.yaml routes first, then the route files in name order',
  )
  t.strictSame(
    config.routes.map((r) => [r.at.file, r.at.line, r.at.col, r.at.path]),
    [
      [shown(path.join(dir, 'config.yaml')), 2, 5, 'routes[0]'],
      [shown(path.join(dir, 'policies/a.yml')), 2, 5, 'routes[0]'],
      [shown(path.join(dir, 'policies/a.yml')), 4, 5, 'routes[1]'],
      [shown(path.join(dir, 'policies/b.yaml')), 2, 5, 'routes[0]'],
    ],
    'each route remembers where it was written',
  )
})

t.test('policies_dir is relative to the config file, not the working directory', async (t) => {
  const { config, dir } = await load(t, {
    config: 'policies_dir: rules\n',
    files: {
      'rules/app.yaml': `routes:\n${route('http://app.example.com')}`,
      // The default folder is not read once policies_dir points elsewhere.
      'policies/broken.yaml': 'nonsense: [\n',
    },
  })
  t.not(process.cwd(), dir)
  t.equal(config.policiesDir, path.join(dir, 'rules'))
  t.strictSame(
    config.routes.map((r) => r.hostKey),
    ['app.example.com'],
  )
})

t.test('policies_dir may climb out of the config folder', async (t) => {
  const { dir } = folder(t, {
    config: '',
    files: {
      'etc/config.yaml': 'policies_dir: ../shared\n',
      'etc/policies/broken.yaml': 'nonsense: [\n',
      'shared/app.yaml': `routes:\n${route('http://shared.example.com')}`,
    },
  })
  const config = await loadConfig(path.join(dir, 'etc/config.yaml'), { env: {} })
  t.equal(config.policiesDir, path.join(dir, 'shared'))
  t.strictSame(
    config.routes.map((r) => [r.hostKey, r.at.file]),
    [['shared.example.com', shown(path.join(dir, 'shared/app.yaml'))]],
  )
})

t.test('policies_dir: . reads the route files beside config.yaml but not config.yaml itself', async (t) => {
  const { config } = await load(t, {
    config: 'policies_dir: .\naddress: 127.0.0.1:1234\n',
    files: { 'app.yaml': `routes:\n${route('http://app.example.com')}` },
  })
  t.strictSame(config.address, { host: '127.0.0.1', port: 1234 })
  t.strictSame(
    config.routes.map((r) => r.hostKey),
    ['app.example.com'],
  )
})

t.test('the same path matcher on different hosts, or different matchers on one host, are not duplicates', async (t) => {
  const { config } = await load(t, {
    config: `routes:\n${route('http://a.example.com')}${route('http://b.example.com')}`,
    files: {
      'policies/more.yaml': `routes:\n${route('http://a.example.com', undefined, '    prefix: /api\n')}${route('http://a.example.com', undefined, '    path: /api\n')}${route('http://a.example.com:8080')}`,
    },
  })
  t.equal(config.routes.length, 5)
})

t.test('environment substitution', async (t) => {
  t.test('${NAME}, ${NAME:-default} and $$ in strings, numbers and lists', async (t) => {
    const { config } = await load(
      t,
      {
        config: [
          'address: ${LISTEN}',
          'log_level: ${LEVEL:-warn}',
          'trusted_proxies: ["${PROXY_NET}"]',
          'routes:',
          '  - from: https://${HOST}',
          '    to: http://${UPSTREAM:-127.0.0.1}:${PORT}',
          '    set_request_headers:',
          '      X-Price: "$$5 and $${NOT_A_VAR}"',
          '      X-Both: "${A}-${B:-b}"',
          '      X-Empty-Default: "[${UNSET:-}]"',
          '',
        ].join('\n'),
      },
      { LISTEN: '127.0.0.1:9999', PROXY_NET: '10.0.0.0/8', HOST: 'app.example.com', PORT: '7000', A: 'a' },
    )
    t.strictSame(config.address, { host: '127.0.0.1', port: 9999 })
    t.equal(config.logLevel, 'warn', 'the default applies when the variable is unset')
    t.strictSame(config.trustedProxies, ['10.0.0.0/8'])
    const [r] = config.routes
    t.equal(r.hostKey, 'app.example.com')
    t.equal(r.upstreams[0].origin, 'http://127.0.0.1:7000')
    t.strictSame(r.setRequestHeaders, [
      ['x-price', '$5 and ${NOT_A_VAR}'],
      ['x-both', 'a-b'],
      ['x-empty-default', '[]'],
    ])
  })

  t.test('a set variable wins over the default', async (t) => {
    const { config } = await load(t, { config: 'log_level: ${LEVEL:-warn}\n' }, { LEVEL: 'error' })
    t.equal(config.logLevel, 'error')
  })

  t.test('booleans may come from the environment', async (t) => {
    const { config } = await load(
      t,
      {
        config: `routes:\n${route('http://a.example.com', undefined, '    allow_websockets: ${FLAG}\n    tls_skip_verify: ${OFF:-false}\n    pass_identity_headers: ${ON:-true}\n')}`,
      },
      { FLAG: 'true' },
    )
    t.equal(config.routes[0].allowWebsockets, true)
    t.equal(config.routes[0].tls.skipVerify, false)
    t.equal(config.routes[0].passIdentityHeaders, true)

    const off = await load(t, { config: `routes:\n${route('http://a.example.com', undefined, '    allow_websockets: ${FLAG}\n')}` }, { FLAG: 'false' })
    t.equal(off.config.routes[0].allowWebsockets, false)
  })

  t.test('variables are substituted in route files too', async (t) => {
    const { config } = await load(
      t,
      {
        config: '',
        files: { 'policies/app.yaml': 'routes:\n  - from: http://${APP_HOST}\n    to: ${APP_UPSTREAM}\n' },
      },
      { APP_HOST: 'app.example.com', APP_UPSTREAM: 'http://10.0.0.9:81' },
    )
    t.equal(config.routes[0].hostKey, 'app.example.com')
    t.equal(config.routes[0].upstreams[0].origin, 'http://10.0.0.9:81')
  })

  t.test('an unset variable is an error naming it, with file:line:col', async (t) => {
    const { lines, configFile, dir } = await refusal(t, {
      config: 'log_level: info\naddress: ${LISTEN_ADDRESS}\n',
      files: { 'policies/app.yaml': `routes:\n${route('http://a.example.com', 'http://${UPSTREAM_HOST}:80')}` },
    })
    t.strictSame(lines, [
      `${shown(configFile)}:2:10 address: environment variable LISTEN_ADDRESS is not set`,
      `${shown(path.join(dir, 'policies/app.yaml'))}:3:9 routes[0].to: environment variable UPSTREAM_HOST is not set`,
    ])
  })

  t.test('the env option replaces process.env entirely', async (t) => {
    t.ok(process.env.PATH, 'PATH is set in this process')
    const { lines, configFile } = await refusal(t, { config: 'policies_dir: ${PATH}\n' }, {})
    t.strictSame(lines, [`${shown(configFile)}:1:15 policies_dir: environment variable PATH is not set`])
  })

  t.test('a variable that is not true or false cannot stand for a boolean', async (t) => {
    const { lines, configFile } = await refusal(
      t,
      {
        config: `routes:\n${route('http://a.example.com', undefined, '    allow_websockets: ${FLAG}\n')}`,
      },
      { FLAG: 'yes' },
    )
    t.strictSame(lines, [`${shown(configFile)}:4:23 routes[0].allow_websockets: must be true or false, got the string "\${FLAG}"`])
  })
})

t.test('a file of exactly 1 MiB is accepted', async (t) => {
  const head = `routes:\n${route('http://a.example.com')}`
  const text = head + '#'.repeat(1024 * 1024 - head.length - 1) + '\n'
  t.equal(Buffer.byteLength(text), 1024 * 1024)
  const { config } = await load(t, { config: text })
  t.equal(config.routes.length, 1)
})

t.test('a few anchors and aliases are fine, and a leading --- is allowed', async (t) => {
  const { config } = await load(t, {
    config: [
      '---',
      'routes:',
      '  - from: http://a.example.com',
      '    to: &pool ["http://10.0.0.1:80,2", http://10.0.0.2:80]',
      '    set_request_headers: &headers { X-Team: blue }',
      '  - from: http://b.example.com',
      '    to: *pool',
      '    set_request_headers: *headers',
      '',
    ].join('\n'),
  })
  t.equal(config.routes.length, 2)
  t.strictSame(
    config.routes[1].upstreams.map((u) => [u.origin, u.weight]),
    [
      ['http://10.0.0.1', 2],
      ['http://10.0.0.2', 1],
    ],
  )
  t.strictSame(config.routes[1].setRequestHeaders, [['x-team', 'blue']])
})

t.test('an unquoted ${VAR} in a flow list gets a hint to quote it, and the quoted form works', async (t) => {
  const dir = writeConfigDir({ config: 'session:\n  secrets: [${COOKIE_SECRET}]\n' })
  t.teardown(dir.cleanup)
  const err = await loadConfig(dir.configFile, { env: { COOKIE_SECRET: Buffer.alloc(32, 1).toString('base64') } }).catch((e: unknown) => e)
  t.match((err as ConfigError).message, /quote "\$\{VAR\}" references/)
  const quoted = writeConfigDir({ config: 'session:\n  secrets: ["${COOKIE_SECRET}"]\n' })
  t.teardown(quoted.cleanup)
  const config = await loadConfig(quoted.configFile, { env: { COOKIE_SECRET: Buffer.alloc(32, 1).toString('base64') } })
  t.equal(config.session.secrets.length, 1)
})
