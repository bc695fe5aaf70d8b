// Configurations Gatehouse must refuse, each with the exact message and where it points:
// FILE:LINE:COL PATH: MESSAGE, as `gatehouse check` prints them.

import t from 'tap'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { ConfigError, formatIssue, type ConfigIssue } from '../../src/errors.js'
import { writeConfigDir, type ConfigFiles } from '../helpers/gatehouse.js'

/** The part of a tap test the helpers need. */
interface Test {
  teardown(fn: () => void): void
}

/** How the loader names a file in messages (relative to the working directory when inside it). */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file)
  return rel && !rel.startsWith('..') ? rel : file
}

/** Loads a config folder that must be refused and returns the ConfigError. */
async function refuse(tt: Test, files: ConfigFiles, env: Record<string, string> = {}, setup?: (dir: string) => void) {
  const written = writeConfigDir(files)
  tt.teardown(written.cleanup)
  setup?.(written.dir)
  const outcome = await loadConfig(written.configFile, { env }).then(
    (config) => ({ config }),
    (error: unknown) => ({ error }),
  )
  if (!('error' in outcome)) throw new Error(`expected the config to be refused; it loaded with ${outcome.config.routes.length} routes`)
  if (!(outcome.error instanceof ConfigError)) throw outcome.error
  return { dir: written.dir, err: outcome.error }
}

/** [file relative to the config folder, line, col, key path, message]. `{dir}` in a
 *  message stands for the config folder; a RegExp matches the message. */
type Expected = [file: string, line: number, col: number, path: string, message: string | RegExp]

function check(tt: Asserts, err: ConfigError, dir: string, expected: Expected[]) {
  const got = err.issues.map(formatIssue)
  tt.equal(err.code, 'GH_ERR_CONFIG_INVALID')
  tt.equal(err.message, got.join('\n'), 'the error message lists every issue, one a line')
  tt.equal(err.issues.length, expected.length, `issue count; got:\n${got.join('\n')}`)
  expected.forEach(([file, line, col, keyPath, message], i) => {
    const issue: ConfigIssue | undefined = err.issues[i]
    const where = `${shown(path.join(dir, file))}:${line}:${col}`
    const head = keyPath ? `${where} ${keyPath}: ` : `${where} `
    if (typeof message === 'string') {
      tt.equal(issue && formatIssue(issue), head + message.replaceAll('{dir}', dir))
    } else {
      tt.strictSame(issue && { file: issue.file, line: issue.line, col: issue.col, path: issue.path }, {
        file: shown(path.join(dir, file)),
        line,
        col,
        path: keyPath,
      })
      tt.match(issue?.message, message)
      tt.ok(issue && formatIssue(issue).startsWith(head), `formatted as ${head}...`)
    }
  })
}

/** The assertions check() uses, on the root test or a subtest alike. */
type Asserts = Pick<typeof t, 'equal' | 'strictSame' | 'match' | 'ok'>

interface Case {
  name: string
  config: string
  files?: Record<string, string>
  env?: Record<string, string>
  expected: Expected[]
}

const TO = '    to: http://127.0.0.1:9000\n'
const FROM = '  - from: http://a.example.com\n'
/** A valid route's first two lines (2:5 is where the route mapping starts). */
const ROUTE = `routes:\n${FROM}${TO}`

const cases: Case[] = [
  // Unknown keys, with a suggestion when one is close.
  {
    name: 'unknown top-level keys',
    config: 'adress: 127.0.0.1:8080\nlog_lvel: info\ntiemout: 30s\n',
    expected: [
      ['config.yaml', 1, 1, 'adress', 'unknown key (did you mean "address"?)'],
      ['config.yaml', 2, 1, 'log_lvel', 'unknown key (did you mean "log_level"?)'],
      ['config.yaml', 3, 1, 'tiemout', 'unknown key'],
    ],
  },
  {
    name: 'unknown keys inside a route',
    config: `${ROUTE}    prefx: /api\n    tiemout: 30s\n    allow_websocket: true\n    frobnicate: 1\n`,
    expected: [
      ['config.yaml', 4, 5, 'routes[0].prefx', 'unknown key (did you mean "prefix"?)'],
      ['config.yaml', 5, 5, 'routes[0].tiemout', 'unknown key (did you mean "timeout"?)'],
      ['config.yaml', 6, 5, 'routes[0].allow_websocket', 'unknown key (did you mean "allow_websockets"?)'],
      ['config.yaml', 7, 5, 'routes[0].frobnicate', 'unknown key'],
    ],
  },
  {
    name: 'unknown key at the top of a routes file',
    config: '',
    files: { 'policies/kasm.yaml': `rotues:\n${FROM}${TO}` },
    expected: [['policies/kasm.yaml', 1, 1, 'rotues', 'unknown key (did you mean "routes"?)']],
  },
  {
    name: 'unknown key in demo',
    config: 'demo:\n  upstrem: 127.0.0.1:8081\n',
    expected: [['config.yaml', 2, 3, 'demo.upstrem', 'unknown key (did you mean "upstream"?)']],
  },

  // Wrong types.
  ...['yes', 'no', 'on', 'off', 'Yes', 'y', 'N'].map((word): Case => ({
    name: `allow_websockets: ${word} (a YAML 1.1 boolean)`,
    config: `${ROUTE}    allow_websockets: ${word}\n`,
    expected: [['config.yaml', 4, 23, 'routes[0].allow_websockets', `must be true or false; "${word}" is a string in YAML 1.2 (write true or false)`]],
  })),
  {
    name: 'other non-booleans',
    config: `${ROUTE}    allow_websockets: 1\n    tls_skip_verify: "true"\n    preserve_host_header:\n`,
    expected: [
      ['config.yaml', 4, 23, 'routes[0].allow_websockets', 'must be true or false, got number 1'],
      ['config.yaml', 5, 22, 'routes[0].tls_skip_verify', 'must be true or false, got the string "true"'],
      ['config.yaml', 6, 26, 'routes[0].preserve_host_header', 'must be true or false, got nothing (null)'],
    ],
  },
  {
    name: 'a number where a string is expected',
    config: 'routes:\n  - name: 42\n    from: 8080\n    to: 9000\n    tls_server_name: 1.5\n',
    expected: [
      ['config.yaml', 2, 11, 'routes[0].name', 'must be a string, got number 42'],
      ['config.yaml', 3, 11, 'routes[0].from', 'must be a URL such as https://app.example.com, got number 8080'],
      ['config.yaml', 4, 9, 'routes[0].to', 'must be an upstream URL such as http://10.0.0.12:8080, got number 9000'],
      ['config.yaml', 5, 22, 'routes[0].tls_server_name', 'must be a string, got number 1.5'],
    ],
  },
  {
    name: 'a number where a listen address is expected',
    config: 'address: 8080\n',
    expected: [['config.yaml', 1, 10, 'address', 'must be a listen address such as 0.0.0.0:8080, got number 8080']],
  },
  {
    name: 'a string where a list is expected',
    config: `trusted_proxies: 10.0.0.1\n${ROUTE}    allowed_users: alice@example.com\n    remove_request_headers: Cookie\n`,
    expected: [
      [
        'config.yaml',
        1,
        18,
        'trusted_proxies',
        'must be a list of an IP address, CIDR range, or one of loopback, linklocal, uniquelocal, got the string "10.0.0.1"',
      ],
      ['config.yaml', 5, 20, 'routes[0].allowed_users', 'must be a list of a string, got the string "alice@example.com"'],
      ['config.yaml', 6, 29, 'routes[0].remove_request_headers', 'must be a list of a string, got the string "Cookie"'],
    ],
  },
  {
    name: 'routes that are not a list of mappings',
    config: 'routes:\n  from: http://a.example.com\n',
    files: { 'policies/a.yaml': 'routes:\n  - http://a.example.com\n', 'policies/b.yaml': 'routes:\n' },
    expected: [
      ['config.yaml', 2, 3, 'routes', 'must be a list of a route mapping, got a mapping'],
      ['policies/a.yaml', 2, 5, 'routes[0]', 'must be a route mapping, got the string "http://a.example.com"'],
      ['policies/b.yaml', 1, 8, 'routes', 'must be a list of a route mapping, got nothing (null)'],
    ],
  },
  {
    name: 'a file that is not a mapping',
    config: '- address: 127.0.0.1:1\n',
    files: { 'policies/a.yaml': 'just some text\n' },
    expected: [
      ['config.yaml', 1, 1, '', 'must be a mapping of settings, got a list'],
      ['policies/a.yaml', 1, 1, '', 'must be a mapping with a routes list, got the string "just some text"'],
    ],
  },
  {
    name: 'keys that are not plain strings',
    config: '8080: x\n? [a, b]\n: c\n',
    expected: [
      ['config.yaml', 1, 1, '', 'keys must be plain strings, got number 8080'],
      ['config.yaml', 2, 3, '', 'keys must be plain strings, got a list'],
    ],
  },
  {
    name: 'durations',
    config: `shutdown_timeout: 10\n${ROUTE}    timeout: 30 seconds\n    idle_timeout: -5s\n`,
    expected: [
      ['config.yaml', 1, 19, 'shutdown_timeout', 'must be a duration such as 30s, 5m or 1h30m, got number 10'],
      ['config.yaml', 5, 14, 'routes[0].timeout', 'must be a duration such as 30s, 5m or 1h30m, got "30 seconds"'],
      ['config.yaml', 6, 19, 'routes[0].idle_timeout', 'must be a duration such as 30s, 5m or 1h30m, got "-5s"'],
    ],
  },
  {
    name: 'values outside a fixed set, with a suggestion',
    config: `log_level: debg\n${ROUTE}    load_balancing_policy: least_requests\n`,
    expected: [
      ['config.yaml', 1, 12, 'log_level', 'must be one of fatal, error, warn, info, debug, trace, silent, got "debg" (did you mean "debug"?)'],
      [
        'config.yaml',
        5,
        28,
        'routes[0].load_balancing_policy',
        'must be one of round_robin, least_request, random, sticky_session, ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV, got "least_requests" (did you mean "least_request"?)',
      ],
    ],
  },

  // YAML-level problems.
  {
    name: 'duplicate keys, at the top level and inside a route',
    config: `log_level: info\naddress: 127.0.0.1:1\nlog_level: debug\n${ROUTE}    to: http://127.0.0.1:9001\n`,
    expected: [
      ['config.yaml', 3, 1, '', 'duplicate key (each key may appear once)'],
      ['config.yaml', 7, 5, '', 'duplicate key (each key may appear once)'],
    ],
  },
  {
    name: 'a YAML syntax error',
    config: 'log_level: info\n',
    files: { 'policies/broken.yaml': 'routes:\n  - from: "http://a.example.com\n    to: http://127.0.0.1:9000\n' },
    expected: [['policies/broken.yaml', 4, 1, '', 'Missing closing "quote']],
  },
  {
    name: 'tabs as indentation',
    config: 'routes:\n\t- from: http://a.example.com\n',
    expected: [['config.yaml', 2, 1, '', 'Tabs are not allowed as indentation']],
  },
  {
    name: 'an unclosed flow sequence',
    config: 'trusted_proxies: [10.0.0.0/8\nlog_level: info\n',
    expected: [['config.yaml', 2, 1, '', /Flow sequence .* must .* end with a \]/]],
  },
  {
    name: 'a multi-document file',
    config: 'log_level: info\n---\nlog_level: debug\n',
    expected: [['config.yaml', 2, 1, '', 'holds more than one YAML document (---); use one document per file']],
  },
  {
    name: 'a %YAML 1.1 directive (it would bring back yes/no booleans)',
    config: '%YAML 1.1\n---\nlog_level: info\n',
    expected: [['config.yaml', 1, 1, '', 'YAML 1.1 is not accepted; Gatehouse reads YAML 1.2 (remove the %YAML directive)']],
  },
  {
    name: 'a policies_dir that does not exist',
    config: 'policies_dir: ./polices\n',
    expected: [['config.yaml', 1, 1, 'policies_dir', 'cannot be listed: ENOENT']],
  },
  {
    name: 'an unknown tag',
    config: 'log_level: !level info\n',
    expected: [['config.yaml', 1, 12, '', 'Unresolved tag: !level']],
  },
  {
    name: 'an alias with no anchor',
    config: 'log_level: *level\n',
    expected: [['config.yaml', 1, 12, 'log_level', 'alias *level has no anchor &level before it']],
  },

  // Environment.
  {
    name: 'unset environment variables',
    config: 'address: ${LISTEN}\nlog_level: ${LEVEL}\n',
    files: {
      'policies/app.yaml': `routes:\n  - from: https://\${APP_HOST}\n${TO}    allow_websockets: \${WS}\n    policy:\n      allow:\n        or:\n          - email:\n              is: \${ADMIN}\n`,
    },
    env: { LEVEL: '' },
    expected: [
      ['config.yaml', 1, 10, 'address', 'environment variable LISTEN is not set'],
      ['config.yaml', 2, 12, 'log_level', 'environment variable LEVEL is not set'],
      ['policies/app.yaml', 2, 11, 'routes[0].from', 'environment variable APP_HOST is not set'],
      ['policies/app.yaml', 4, 23, 'routes[0].allow_websockets', 'environment variable WS is not set'],
      ['policies/app.yaml', 9, 19, 'routes[0].policy.allow.or[0].email.is', 'environment variable ADMIN is not set'],
    ],
  },

  // Upstreams (`to`).
  {
    name: 'bad upstream URLs',
    config: [
      'routes:',
      '  - from: http://a.example.com',
      '    to:',
      '      - http://127.0.0.1:9000/app',
      '      - http://user:secret@127.0.0.1:9000',
      '      - http://x:1,0',
      '      - http://x:1,abc',
      '      - ftp://files.example.com',
      '      - not a url',
      '      - http://x:1/?q=1',
      '      - "http://x:1,"',
      '  - from: http://b.example.com',
      '    to: http://127.0.0.1:9000/app',
      '  - from: http://c.example.com',
      '    to: []',
      '',
    ].join('\n'),
    expected: [
      ['config.yaml', 4, 9, 'routes[0].to[0]', 'must not contain a path (/app); use prefix_rewrite to change the upstream path'],
      ['config.yaml', 5, 9, 'routes[0].to[1]', 'must not contain user info (use set_request_headers for credentials)'],
      ['config.yaml', 6, 9, 'routes[0].to[2]', 'has an invalid weight "0" (a whole number of at least 1)'],
      ['config.yaml', 7, 9, 'routes[0].to[3]', 'has an invalid weight "abc" (a whole number of at least 1)'],
      ['config.yaml', 8, 9, 'routes[0].to[4]', 'must use http or https, got ftp'],
      ['config.yaml', 9, 9, 'routes[0].to[5]', 'must be an http or https URL, got "not a url"'],
      ['config.yaml', 10, 9, 'routes[0].to[6]', 'must not contain a query or fragment'],
      ['config.yaml', 11, 9, 'routes[0].to[7]', 'has an invalid weight "" (a whole number of at least 1)'],
      ['config.yaml', 13, 9, 'routes[1].to', 'must not contain a path (/app); use prefix_rewrite to change the upstream path'],
      ['config.yaml', 15, 9, 'routes[2].to', 'must have at least 1 item'],
    ],
  },
  {
    name: 'a bad upstream in a routes file (message format example)',
    config: '',
    files: {
      'policies/kasm.yaml': [
        '# Kasm workspaces',
        'routes:',
        '  - from: https://kasm.example.com',
        '    to: https://10.0.0.5:8443',
        '    allow_websockets: true',
        '  - from: https://kasm-admin.example.com',
        '    to: https://admin:hunter2@10.0.0.5:8443',
        '',
      ].join('\n'),
    },
    expected: [['policies/kasm.yaml', 7, 9, 'routes[1].to', 'must not contain user info (use set_request_headers for credentials)']],
  },

  // Origins (`from`).
  {
    name: 'bad from URLs',
    config: [
      'routes:',
      '  - from: https://app.example.com/admin',
      TO + '  - from: https://app.example.com?x=1',
      TO + '  - from: https://user@app.example.com',
      TO + '  - from: ftp://app.example.com',
      TO + '  - from: app.example.com',
      TO + '  - from: https://app.example.com:0',
      TO + '  - from: https://bad_host.example.com',
      TO,
    ].join('\n'),
    expected: [
      [
        'config.yaml',
        2,
        11,
        'routes[0].from',
        'must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "https://app.example.com/admin"',
      ],
      [
        'config.yaml',
        4,
        11,
        'routes[1].from',
        'must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "https://app.example.com?x=1"',
      ],
      [
        'config.yaml',
        6,
        11,
        'routes[2].from',
        'must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "https://user@app.example.com"',
      ],
      [
        'config.yaml',
        8,
        11,
        'routes[3].from',
        'must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "ftp://app.example.com"',
      ],
      [
        'config.yaml',
        10,
        11,
        'routes[4].from',
        'must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "app.example.com"',
      ],
      ['config.yaml', 12, 11, 'routes[5].from', 'has an invalid port 0'],
      ['config.yaml', 14, 11, 'routes[6].from', 'has an invalid host name "bad_host.example.com"'],
    ],
  },

  // Path matchers and rewrites.
  {
    name: 'paths that do not start with /',
    config: `${ROUTE}    prefix: api\n  - from: http://b.example.com\n${TO}    path: api/x\n  - from: http://c.example.com\n${TO}    prefix_rewrite: v2/\n`,
    expected: [
      ['config.yaml', 4, 13, 'routes[0].prefix', 'must start with /, got "api"'],
      ['config.yaml', 7, 11, 'routes[1].path', 'must start with /, got "api/x"'],
      ['config.yaml', 10, 21, 'routes[2].prefix_rewrite', 'must start with /, got "v2/"'],
    ],
  },
  {
    name: 'more than one path matcher',
    config: `${ROUTE}    prefix: /a\n    path: /b\n  - from: http://b.example.com\n${TO}    regex: /b.*\n    prefix: /b\n`,
    expected: [
      ['config.yaml', 5, 5, 'routes[0]', 'set only one of prefix, path, regex (found prefix and path)'],
      ['config.yaml', 8, 5, 'routes[1]', 'set only one of prefix, path, regex (found prefix and regex)'],
    ],
  },
  {
    name: 'preserve_host_header with host_rewrite',
    config: `${ROUTE}    preserve_host_header: true\n    host_rewrite: internal.example.com\n`,
    expected: [['config.yaml', 5, 5, 'routes[0]', 'set only one of preserve_host_header, host_rewrite (found preserve_host_header and host_rewrite)']],
  },
  {
    name: 'a bad host_rewrite',
    config: `${ROUTE}    host_rewrite: http://internal\n`,
    expected: [['config.yaml', 4, 19, 'routes[0].host_rewrite', 'must be a host[:port], got "http://internal"']],
  },
  {
    name: 'prefix_rewrite with a regex matcher',
    config: `${ROUTE}    regex: /api/.*\n    prefix_rewrite: /\n`,
    expected: [['config.yaml', 2, 5, 'routes[0]', 'prefix_rewrite needs a prefix or path matcher, not regex']],
  },
  {
    name: 'invalid regular expressions, and ones that need backtracking',
    config: [
      'routes:',
      `  - from: http://a.example.com\n${TO}    regex: "(["`,
      `  - from: http://b.example.com\n${TO}    regex: '(a)\\1'`,
      `  - from: http://c.example.com\n${TO}    regex: '/(?=x)'`,
      `  - from: http://d.example.com\n${TO}    regex: '/(?!admin)'`,
      `  - from: http://e.example.com\n${TO}    regex: '(?<=x)y'`,
      `  - from: http://f.example.com\n${TO}    regex: 'a{1001}'`,
      '',
    ].join('\n'),
    expected: [
      ['config.yaml', 4, 12, 'routes[0].regex', /^is not a regular expression Gatehouse can run in linear time: .*missing closing \]/],
      ['config.yaml', 7, 12, 'routes[1].regex', /^is not a regular expression Gatehouse can run in linear time: .*\\1/],
      ['config.yaml', 10, 12, 'routes[2].regex', /^is not a regular expression Gatehouse can run in linear time: .*\(\?=/],
      ['config.yaml', 13, 12, 'routes[3].regex', /^is not a regular expression Gatehouse can run in linear time: .*\(\?!/],
      ['config.yaml', 16, 12, 'routes[4].regex', /^is not a regular expression Gatehouse can run in linear time: .*\(\?</],
      ['config.yaml', 19, 12, 'routes[5].regex', /^is not a regular expression Gatehouse can run in linear time: .*invalid repeat count/],
    ],
  },

  // Required keys.
  {
    name: 'missing from, missing to, missing both',
    config: `routes:\n  - to: http://127.0.0.1:9000\n${FROM}  - name: nothing\n`,
    expected: [
      ['config.yaml', 2, 5, 'routes[0]', 'missing required key "from"'],
      ['config.yaml', 3, 5, 'routes[1]', 'missing required key "to"'],
      ['config.yaml', 4, 5, 'routes[2]', 'missing required key "from"'],
      ['config.yaml', 4, 5, 'routes[2]', 'missing required key "to"'],
    ],
  },

  // Top-level settings.
  {
    name: 'invalid trusted_proxies entries',
    config: 'trusted_proxies:\n  - 10.0.0.0/8\n  - nope\n  - 10.0.0.0/33\n  - 300.1.1.1\n',
    expected: [
      ['config.yaml', 3, 5, 'trusted_proxies[1]', 'must be an IP address, CIDR range (10.0.0.0/8) or loopback/linklocal/uniquelocal, got "nope"'],
      ['config.yaml', 4, 5, 'trusted_proxies[2]', 'must be an IP address, CIDR range (10.0.0.0/8) or loopback/linklocal/uniquelocal, got "10.0.0.0/33"'],
      ['config.yaml', 5, 5, 'trusted_proxies[3]', 'must be an IP address, CIDR range (10.0.0.0/8) or loopback/linklocal/uniquelocal, got "300.1.1.1"'],
    ],
  },
  ...['nope', '127.0.0.1', '127.0.0.1:70000', 'http://127.0.0.1:8080', '127.0.0.1:80:80'].map((address): Case => ({
    name: `address ${address}`,
    config: `log_level: info\naddress: "${address}"\n`,
    expected: [['config.yaml', 2, 10, 'address', `must be host:port (e.g. 0.0.0.0:8080 or [::]:8443), got "${address}"`]],
  })),
  {
    name: 'a bad demo upstream address',
    config: 'demo:\n  upstream: localhost\n',
    expected: [['config.yaml', 2, 13, 'demo.upstream', 'must be host:port (e.g. 0.0.0.0:8080 or [::]:8443), got "localhost"']],
  },
  {
    name: 'tls_cert_file without tls_key_file',
    config: 'log_level: info\ntls_cert_file: cert.pem\n',
    files: { 'cert.pem': 'CERT' },
    expected: [['config.yaml', 1, 1, 'tls_key_file', 'tls_cert_file and tls_key_file must be set together']],
  },
  {
    name: 'tls_key_file without tls_cert_file',
    config: 'tls_key_file: key.pem\n',
    files: { 'key.pem': 'KEY' },
    expected: [['config.yaml', 1, 1, 'tls_cert_file', 'tls_cert_file and tls_key_file must be set together']],
  },
  {
    name: 'unreadable TLS files',
    config: 'tls_cert_file: certs/missing-cert.pem\ntls_key_file: certs/missing-key.pem\n',
    expected: [
      ['config.yaml', 1, 16, 'tls_cert_file', 'cannot read certs/missing-cert.pem: ENOENT'],
      ['config.yaml', 2, 15, 'tls_key_file', 'cannot read certs/missing-key.pem: ENOENT'],
    ],
  },
  {
    name: 'a TLS certificate and key that are not PEM',
    config: 'tls_cert_file: cert.pem\ntls_key_file: key.pem\n',
    files: { 'cert.pem': 'CERT', 'key.pem': 'KEY' },
    expected: [['config.yaml', 1, 16, 'tls_cert_file', /^the certificate and key cannot be used together: /]],
  },
  {
    name: 'session secrets that are not 32-byte base64 keys (never quoted back)',
    config: `session:\n  secrets:\n    - short\n    - ${Buffer.alloc(16, 1).toString('base64')}\n    - ${Buffer.alloc(32, 2).toString('base64')}\n`,
    expected: [
      ['config.yaml', 3, 7, 'session.secrets[0]', 'must be a 32-byte key in base64 (gatehouse keys makes one): its length is not that of base64'],
      ['config.yaml', 4, 7, 'session.secrets[1]', 'must be a 32-byte key in base64 (gatehouse keys makes one): it decodes to 16 bytes'],
    ],
  },
  {
    name: 'a __Host- cookie with a domain',
    config: `session:\n  cookie_name: __Host-gh\n  domain: example.com\nroutes:\n  - from: https://app.example.com\n    to: http://127.0.0.1:1\n    allow_public_unauthenticated_access: true\n`,
    expected: [['config.yaml', 3, 11, 'session.domain', 'a __Host- cookie (__Host-gh) cannot have a domain; remove session.domain or rename the cookie']],
  },
  {
    name: 'a __Secure- cookie with a plain http route',
    config: `session:\n  cookie_name: __Secure-gh\nroutes:\n  - from: http://app.example.com\n    to: http://127.0.0.1:1\n    allow_public_unauthenticated_access: true\n`,
    expected: [['config.yaml', 2, 16, 'session.cookie_name', /^a __Secure- cookie needs https, but .*config\.yaml:4:5 routes plain http$/]],
  },
  {
    name: 'a cookie domain that is not a host name',
    config: 'session:\n  domain: "exa mple.com"\n',
    expected: [['config.yaml', 2, 11, 'session.domain', 'cookie domain "exa mple.com" is not a host name']],
  },
  {
    name: 'a header value Node could not send',
    config: `${ROUTE}    set_request_headers: { X-Name: "Łukasz" }\n`,
    expected: [['config.yaml', 4, 36, 'routes[0].set_request_headers.X-Name', 'header values must be printable ASCII (or Latin-1) without control characters']],
  },
  {
    name: 'the demo with NODE_ENV=production',
    config: 'demo:\n  upstream: 127.0.0.1:1\n',
    env: { NODE_ENV: 'production' },
    expected: [['config.yaml', 2, 3, 'demo', 'the demo (development IdP, demo upstream) refuses to run with NODE_ENV=production; remove the demo block']],
  },
  {
    name: 'an unreadable tls_custom_ca_file',
    config: `${ROUTE}    tls_custom_ca_file: certs/missing-ca.pem\n`,
    expected: [['config.yaml', 2, 5, 'routes[0].tls_custom_ca_file', 'cannot read {dir}/certs/missing-ca.pem: ENOENT']],
  },
  {
    name: 'a tls_custom_ca_file that is a folder',
    config: `${ROUTE}    tls_custom_ca_file: certs\n`,
    files: { 'certs/README': 'not a CA' },
    expected: [['config.yaml', 2, 5, 'routes[0].tls_custom_ca_file', 'cannot read {dir}/certs: EISDIR']],
  },

  // Headers.
  {
    name: 'header values with CR, LF or NUL, and invalid header names',
    config: [
      ROUTE + '    set_request_headers:',
      '      X-Split: "a\\r\\nInjected: 1"',
      '      X-Lf: "a\\nb"',
      '      X-Block: |',
      '        line one',
      '        line two',
      '      "Bad Name": x',
      '      "X-Colon:": x',
      '    set_response_headers:',
      '      X-Nul: "a\\0b"',
      '      "": x',
      '    remove_request_headers: [Cookie, "Bad Header"]',
      '',
    ].join('\n'),
    expected: [
      ['config.yaml', 5, 16, 'routes[0].set_request_headers.X-Split', 'header values must not contain CR, LF or NUL'],
      ['config.yaml', 6, 13, 'routes[0].set_request_headers.X-Lf', 'header values must not contain CR, LF or NUL'],
      ['config.yaml', 7, 16, 'routes[0].set_request_headers.X-Block', 'header values must not contain CR, LF or NUL'],
      ['config.yaml', 10, 7, 'routes[0].set_request_headers.Bad Name', '"Bad Name" is not a valid header name'],
      ['config.yaml', 11, 7, 'routes[0].set_request_headers.X-Colon:', '"X-Colon:" is not a valid header name'],
      ['config.yaml', 13, 14, 'routes[0].set_response_headers.X-Nul', 'header values must not contain CR, LF or NUL'],
      ['config.yaml', 14, 7, 'routes[0].set_response_headers.', '"" is not a valid header name'],
      ['config.yaml', 15, 38, 'routes[0].remove_request_headers[1]', '"Bad Header" is not a valid header name'],
    ],
  },
  {
    name: 'a header value that gains a newline from the environment',
    config: `${ROUTE}    set_request_headers:\n      X-Token: "\${TOKEN}"\n`,
    env: { TOKEN: 'abc\r\nX-Admin: 1' },
    expected: [['config.yaml', 5, 16, 'routes[0].set_request_headers.X-Token', 'header values must not contain CR, LF or NUL']],
  },

  // Duplicate routes.
  {
    name: 'the same host and matcher in two files',
    config: ROUTE,
    files: {
      'policies/b.yaml': `routes:\n  - from: http://other.example.com\n${TO}  - from: HTTP://A.example.com:80/\n    to: http://127.0.0.1:9001\n    prefix: /\n`,
    },
    expected: [['policies/b.yaml', 4, 5, 'routes[1]', /^duplicate route: .+:2:5 already routes a\.example\.com with prefix \/$/]],
  },
  {
    name: 'duplicate path and regex matchers, and a third copy',
    config: [
      'routes:',
      `  - from: https://a.example.com\n${TO}    path: /x`,
      `  - from: https://a.example.com:443\n${TO}    path: /x`,
      `  - from: https://a.example.com\n${TO}    regex: /y.*`,
      `  - from: https://a.example.com\n${TO}    regex: /y.*`,
      `  - from: https://a.example.com\n${TO}    path: /x`,
      '',
    ].join('\n'),
    expected: [
      ['config.yaml', 5, 5, 'routes[1]', /^duplicate route: .+config\.yaml:2:5 already routes a\.example\.com with path \/x$/],
      ['config.yaml', 11, 5, 'routes[3]', /^duplicate route: .+config\.yaml:8:5 already routes a\.example\.com with regex \/y\.\*$/],
      ['config.yaml', 14, 5, 'routes[4]', /^duplicate route: .+config\.yaml:2:5 already routes a\.example\.com with path \/x$/],
    ],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { err, dir } = await refuse(t, { config: c.config, files: c.files }, c.env)
    check(t, err, dir, c.expected)
  })
}

t.test('a duplicate route names the first location exactly', async (t) => {
  const { err, dir } = await refuse(t, {
    config: '',
    files: {
      'policies/a.yaml': `# first\nroutes:\n  - from: https://app.example.com\n${TO}    prefix: /api\n`,
      'policies/b.yaml': `routes:\n  - name: again\n    from: https://APP.example.com\n${TO}    prefix: /api\n`,
    },
  })
  const first = shown(path.join(dir, 'policies/a.yaml'))
  check(t, err, dir, [['policies/b.yaml', 2, 5, 'routes[0]', `duplicate route: ${first}:3:5 already routes app.example.com with prefix /api`]])
})

t.test('an alias bomb fails fast with the alias message', async (t) => {
  // Sixteen levels of ten aliases each would expand to 10^16 strings.
  const names = 'abcdefghijklmnop'.split('')
  const levels = names.map((name, i) =>
    i === 0
      ? `      - &a [${Array(10).fill('lol').join(',')}]`
      : `      - &${name} [${Array(10)
          .fill('*' + names[i - 1])
          .join(',')}]`,
  )
  const bomb = `routes:\n${FROM}${TO}    policy:\n${levels.join('\n')}\n`
  const started = performance.now()
  const { err, dir } = await refuse(t, { config: '', files: { 'policies/bomb.yaml': bomb } })
  const elapsed = performance.now() - started
  t.ok(elapsed < 1000, `refused in ${elapsed.toFixed(0)}ms`)
  // Level b spends 10 aliases, each c[i] 11 more: the 65th is the last *a inside c[4].
  check(t, err, dir, [['policies/bomb.yaml', 6, 40, 'routes[0].policy[2][4][9]', 'more than 64 alias references in one file; refusing to expand further']])
})

t.test('an alias bomb under an unknown key is not expanded either', async (t) => {
  const names = 'abcdefghijklmnop'.split('')
  const text =
    names
      .map((name, i) =>
        i === 0
          ? `x${name}: &${name} [${Array(10).fill('lol').join(',')}]`
          : `x${name}: &${name} [${Array(10)
              .fill('*' + names[i - 1])
              .join(',')}]`,
      )
      .join('\n') + '\n'
  const started = performance.now()
  const { err } = await refuse(t, { config: text })
  t.ok(performance.now() - started < 1000)
  t.equal(err.issues.length, 16)
  t.ok(err.issues.every((issue) => issue.message === 'unknown key'))
})

t.test('files over 1 MiB are refused before they are parsed', async (t) => {
  const big = 'log_level: info\n' + '#'.repeat(1024 * 1024 - 16) + '\n'
  t.equal(Buffer.byteLength(big), 1024 * 1024 + 1)
  const { err, dir } = await refuse(t, { config: big, files: { 'policies/huge.yaml': `routes: []\n# ${'x'.repeat(2 * 1024 * 1024)}\n` } })
  check(t, err, dir, [
    ['config.yaml', 1, 1, '', 'is 1048577 bytes; configuration files may be at most 1048576 bytes'],
    ['policies/huge.yaml', 1, 1, '', 'is 2097166 bytes; configuration files may be at most 1048576 bytes'],
  ])
})

t.test('a missing config file', async (t) => {
  const written = writeConfigDir({ config: '' })
  t.teardown(written.cleanup)
  const missing = path.join(written.dir, 'nope.yaml')
  const err = await loadConfig(missing, { env: {} }).catch((e: unknown) => e)
  t.ok(err instanceof ConfigError)
  if (err instanceof ConfigError) check(t, err, written.dir, [['nope.yaml', 1, 1, '', 'cannot be read: ENOENT']])
})

t.test('a config path that is a folder, and a routes "file" that is a folder', async (t) => {
  const { err, dir } = await refuse(t, { config: '' }, {}, (d) => mkdirSync(path.join(d, 'policies/folder.yaml'), { recursive: true }))
  check(t, err, dir, [['policies/folder.yaml', 1, 1, '', 'is not a regular file']])
  const err2 = await loadConfig(dir, { env: {} }).catch((e: unknown) => e)
  t.ok(err2 instanceof ConfigError)
  if (err2 instanceof ConfigError) t.equal(formatIssue(err2.issues[0]), `${shown(dir)}:1:1 is not a regular file`)
})

t.test('a policies_dir that is not a folder', async (t) => {
  const { err, dir } = await refuse(t, { config: 'policies_dir: routes.txt\n', files: { 'routes.txt': 'hello' } })
  check(t, err, dir, [['config.yaml', 1, 1, 'policies_dir', 'cannot be listed: ENOTDIR']])
})

t.test('every error from every file is reported at once', async (t) => {
  const { err, dir } = await refuse(t, {
    config: `log_level: loud\nadress: 127.0.0.1:1\n${ROUTE}    prefx: /x\n`,
    files: {
      'policies/a.yaml': `routes:\n  - from: http://b.example.com/path\n    to: http://x:1,abc\n`,
      'policies/b.yaml': 'routes:\n  - from: http://c.example.com\n    to: [http://ok:1\n',
      'policies/c.yaml': `routes:\n${FROM}    to: ftp://x\n    allow_websockets: yes\n`,
      'policies/d.yaml': `routes:\n  - from: http://d.example.com\n${TO}`,
    },
  })
  check(t, err, dir, [
    ['config.yaml', 1, 12, 'log_level', 'must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    ['config.yaml', 2, 1, 'adress', 'unknown key (did you mean "address"?)'],
    ['config.yaml', 6, 5, 'routes[0].prefx', 'unknown key (did you mean "prefix"?)'],
    [
      'policies/a.yaml',
      2,
      11,
      'routes[0].from',
      'must be a scheme and host (https://app.example.com, optionally :port), without path, query or user info; got "http://b.example.com/path"',
    ],
    ['policies/a.yaml', 3, 9, 'routes[0].to', 'has an invalid weight "abc" (a whole number of at least 1)'],
    ['policies/b.yaml', 4, 1, '', /Flow sequence .* must .* end with a \]/],
    ['policies/c.yaml', 3, 9, 'routes[0].to', 'must use http or https, got ftp'],
    ['policies/c.yaml', 4, 23, 'routes[0].allow_websockets', 'must be true or false; "yes" is a string in YAML 1.2 (write true or false)'],
  ])
})

t.test('cross-route problems are all reported together', async (t) => {
  const { err, dir } = await refuse(t, {
    config: `tls_cert_file: cert.pem\n${ROUTE}    tls_custom_ca_file: ca.pem\n`,
    files: { 'policies/dup.yaml': `routes:\n${FROM}${TO}  - from: http://b.example.com\n${TO}    regex: /x\n    prefix_rewrite: /y\n` },
  })
  check(t, err, dir, [
    ['config.yaml', 1, 1, 'tls_key_file', 'tls_cert_file and tls_key_file must be set together'],
    ['config.yaml', 3, 5, 'routes[0].tls_custom_ca_file', 'cannot read {dir}/ca.pem: ENOENT'],
    ['policies/dup.yaml', 4, 5, 'routes[1]', 'prefix_rewrite needs a prefix or path matcher, not regex'],
  ])
  // The route whose CA could not be read is left out, so the copy in dup.yaml is not a duplicate yet.
})

t.test('errors in config.yaml do not hide the route files of its policies_dir', async (t) => {
  const { err, dir } = await refuse(t, {
    config: 'policies_dir: rules\nbogus: 1\n',
    files: { 'rules/app.yaml': 'routes:\n  - from: http://a.example.com\n', 'policies/other.yaml': 'not: [routes\n' },
  })
  check(t, err, dir, [
    ['config.yaml', 2, 1, 'bogus', 'unknown key'],
    ['rules/app.yaml', 2, 5, 'routes[0]', 'missing required key "to"'],
  ])
})

t.test('an unusable policies_dir skips the route files rather than guessing', async (t) => {
  const { err, dir } = await refuse(t, {
    config: 'policies_dir: ${RULES}\n',
    files: { 'policies/other.yaml': 'not: [routes\n' },
  })
  check(t, err, dir, [['config.yaml', 1, 15, 'policies_dir', 'environment variable RULES is not set']])
})

t.test('loadConfig rejects with code GH_ERR_CONFIG_INVALID', async (t) => {
  const written = writeConfigDir({ config: 'log_level: loud\n' })
  t.teardown(written.cleanup)
  await t.rejects(loadConfig(written.configFile, { env: {} }), {
    name: 'ConfigError',
    code: 'GH_ERR_CONFIG_INVALID',
    status: 500,
    message: `${shown(written.configFile)}:1:12 log_level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"`,
  })
})
