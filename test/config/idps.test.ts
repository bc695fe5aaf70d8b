// Identity provider configuration: what loadConfig refuses, each as FILE:LINE:COL PATH:
// MESSAGE (problems found while compiling an idp point at its mapping, the path names
// the key), and what it reads (client_secret_file, defaults, `idp:` for a single one).

import t from 'tap'
import path from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { ConfigError, formatIssue } from '../../src/errors.js'
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

function folder(tt: Test, files: ConfigFiles) {
  const written = writeConfigDir(files)
  tt.teardown(written.cleanup)
  return written
}

/** Loads a config folder that must be refused; returns the folder and the formatted issues. */
async function refuse(tt: Test, files: ConfigFiles) {
  const { dir, configFile } = folder(tt, files)
  const outcome = await loadConfig(configFile, { env: {} }).then(
    (config) => ({ config }),
    (error: unknown) => ({ error }),
  )
  if (!('error' in outcome)) throw new Error(`expected the config to be refused; it loaded with ${outcome.config.idps.length} idps`)
  if (!(outcome.error instanceof ConfigError)) throw outcome.error
  return { dir, err: outcome.error, lines: outcome.error.issues.map(formatIssue) }
}

async function load(tt: Test, files: ConfigFiles) {
  const { configFile } = folder(tt, files)
  try {
    return await loadConfig(configFile, { env: {} })
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`refused:\n${err.issues.map(formatIssue).join('\n')}`)
    throw err
  }
}

/** [line, col, key path, message] in config.yaml. */
type Expected = [line: number, col: number, path: string, message: string]

interface Case {
  name: string
  config: string
  files?: Record<string, string>
  expected: Expected[]
  /** Set on a case whose expectation the implementation does not meet yet. */
  todo?: string
}

const ISSUER = '    issuer: https://idp.example.com\n'
const CLIENT = '    client_id: gatehouse\n'
const SECRET = '    client_secret: s3cret\n'
/** The first idp item; its mapping starts at 2:5. */
const IDP = `idps:\n  - id: corp\n`

const cases: Case[] = [
  {
    name: 'an idp without issuer',
    config: `${IDP}${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].issuer', 'is required: ID tokens are checked against it (explicit endpoints may replace discovery, not the issuer)']],
  },
  {
    name: 'an idp without issuer, with every endpoint given explicitly',
    config: `${IDP}    authorization_url: https://idp.example.com/auth\n    token_url: https://idp.example.com/token\n    jwks_url: https://idp.example.com/jwks\n${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].issuer', 'is required: ID tokens are checked against it (explicit endpoints may replace discovery, not the issuer)']],
  },
  {
    name: 'an http issuer on a host that is not loopback',
    config: `${IDP}    issuer: http://idp.example.com\n${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].issuer', 'http://idp.example.com must use https (http is accepted only on loopback)']],
  },
  {
    name: 'an http issuer on a name that merely starts with localhost',
    config: `${IDP}    issuer: http://localhost.example.com:8443\n${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].issuer', 'http://localhost.example.com:8443 must use https (http is accepted only on loopback)']],
  },
  {
    name: 'an http token_url on a host that is not loopback',
    config: `${IDP}${ISSUER}    token_url: http://idp.example.com/token\n${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].token_url', 'http://idp.example.com/token must use https (http is accepted only on loopback)']],
  },
  {
    name: 'no client secret with the default client_secret_basic',
    config: `${IDP}${ISSUER}${CLIENT}`,
    expected: [[2, 5, 'idps[0].client_secret', 'is required with client_secret_basic (or set token_endpoint_auth_method: none for a public client)']],
  },
  {
    name: 'no client secret with client_secret_post',
    config: `${IDP}${ISSUER}${CLIENT}    token_endpoint_auth_method: client_secret_post\n`,
    expected: [[2, 5, 'idps[0].client_secret', 'is required with client_secret_post (or set token_endpoint_auth_method: none for a public client)']],
  },
  {
    name: 'client_secret and client_secret_file together',
    config: `${IDP}${ISSUER}${CLIENT}${SECRET}    client_secret_file: secret.txt\n`,
    files: { 'secret.txt': 'other\n' },
    expected: [[6, 5, 'idps[0]', 'set only one of client_secret, client_secret_file (found client_secret and client_secret_file)']],
  },
  {
    name: 'a client_secret_file that does not exist',
    config: `${IDP}${ISSUER}${CLIENT}    client_secret_file: secrets/missing.txt\n`,
    expected: [[2, 5, 'idps[0].client_secret_file', 'cannot be read: ENOENT']],
  },
  {
    name: 'a client_secret_file that is a folder',
    config: `${IDP}${ISSUER}${CLIENT}    client_secret_file: secrets\n`,
    files: { 'secrets/readme.txt': 'x' },
    expected: [[2, 5, 'idps[0].client_secret_file', 'cannot be read: EISDIR']],
  },
  {
    name: 'a client_secret_file holding only whitespace',
    config: `${IDP}${ISSUER}${CLIENT}    client_secret_file: secret.txt\n`,
    files: { 'secret.txt': '  \n' },
    expected: [[2, 5, 'idps[0].client_secret_file', 'is empty']],
  },
  {
    name: 'an issuer with a query',
    config: `${IDP}    issuer: https://idp.example.com/?tenant=1\n${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].issuer', 'must not contain a query or fragment (OpenID Connect issuers cannot)']],
  },
  {
    name: 'userinfo without a userinfo_url when explicit endpoints replace discovery',
    config: `${IDP}${ISSUER}    authorization_url: https://idp.example.com/auth\n    token_url: https://idp.example.com/token\n    jwks_url: https://idp.example.com/jwks\n    userinfo: true\n${CLIENT}${SECRET}`,
    expected: [[2, 5, 'idps[0].userinfo_url', 'is required with userinfo: true when explicit endpoints replace discovery']],
  },
  {
    name: 'two idps with auto_login',
    config: `${IDP}${ISSUER}${CLIENT}${SECRET}    auto_login: true\n  - id: other\n    issuer: https://other.example.com\n${CLIENT}${SECRET}    auto_login: true\n`,
    expected: [[7, 5, 'idps[1].auto_login', 'only one identity provider may have auto_login (corp has it already)']],
  },
  {
    name: 'two idps with the same id',
    config: `${IDP}${ISSUER}${CLIENT}${SECRET}  - id: corp\n    issuer: https://other.example.com\n${CLIENT}${SECRET}`,
    expected: [[6, 5, 'idps[1].id', 'another identity provider already has the id "corp"']],
  },
  {
    name: 'a route pinning an unknown idp',
    config: `${IDP}${ISSUER}${CLIENT}${SECRET}routes:\n  - from: https://app.example.com\n    to: http://127.0.0.1:9000\n    idp: crop\n  - from: https://b.example.com\n    to: http://127.0.0.1:9000\n    idp: zzzzzz\n`,
    expected: [
      [7, 5, 'routes[0].idp', 'no identity provider has the id "crop" (did you mean "corp"?)'],
      [10, 5, 'routes[1].idp', 'no identity provider has the id "zzzzzz"'],
    ],
  },
  {
    name: 'a route pinning an idp when none is configured',
    config: 'routes:\n  - from: https://app.example.com\n    to: http://127.0.0.1:9000\n    idp: corp\n',
    expected: [[2, 5, 'routes[0].idp', 'no identity provider has the id "corp"']],
  },
  {
    name: 'unknown keys in an idp',
    config: `${IDP}${ISSUER}${CLIENT}    client_secert: s3cret\n    groups_clam: roles\n    autologin: true\n    frobnicate: 1\n`,
    expected: [
      [5, 5, 'idps[0].client_secert', 'unknown key (did you mean "client_secret"?)'],
      [6, 5, 'idps[0].groups_clam', 'unknown key (did you mean "groups_claim"?)'],
      [7, 5, 'idps[0].autologin', 'unknown key (did you mean "auto_login"?)'],
      [8, 5, 'idps[0].frobnicate', 'unknown key'],
    ],
  },
  {
    name: 'idp: and idps: together',
    config: `idp:\n  id: corp\n  issuer: https://idp.example.com\n  client_id: gatehouse\n  client_secret: s3cret\n${IDP.replace('corp', 'other')}${ISSUER}${CLIENT}${SECRET}`,
    expected: [[1, 1, '', 'set only one of idps, idp (found idps and idp)']],
  },
  {
    name: 'problems in a single idp: point at it',
    config: 'idp:\n  id: corp\n  issuer: http://idp.example.com\n  client_id: gatehouse\n  client_secret: s3cret\n',
    expected: [[2, 3, 'idp.issuer', 'http://idp.example.com must use https (http is accepted only on loopback)']],
  },
  {
    name: 'each idp is checked: problems in several are all listed',
    config: `${IDP}${CLIENT}${SECRET}  - id: other\n    issuer: http://idp.example.com\n${CLIENT}${SECRET}  - id: third\n${ISSUER}${CLIENT}`,
    expected: [
      [2, 5, 'idps[0].issuer', 'is required: ID tokens are checked against it (explicit endpoints may replace discovery, not the issuer)'],
      [5, 5, 'idps[1].issuer', 'http://idp.example.com must use https (http is accepted only on loopback)'],
      [9, 5, 'idps[2].client_secret', 'is required with client_secret_basic (or set token_endpoint_auth_method: none for a public client)'],
    ],
  },
  {
    name: 'a logo_url that is not http(s)',
    config: `${IDP}${ISSUER}${CLIENT}${SECRET}    logo_url: "javascript:alert(1)"\n`,
    expected: [[6, 15, 'idps[0].logo_url', 'must be an https URL, got "javascript:alert(1)"']],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { dir, lines } = await refuse(t, { config: c.config, files: c.files })
    const file = shown(path.join(dir, 'config.yaml'))
    const expected = c.expected.map(([line, col, key, message]) => `${file}:${line}:${col}${key ? ` ${key}:` : ''} ${message}`)
    if (c.todo) t.strictSame(lines, expected, { todo: c.todo })
    else t.strictSame(lines, expected, `got:\n${lines.join('\n')}`)
  })
}

t.test('client_secret_file is read relative to config.yaml, its trailing newline trimmed', async (t) => {
  const config = await load(t, {
    config: `${IDP}${ISSUER}${CLIENT}    client_secret_file: secrets/corp.txt\n`,
    files: { 'secrets/corp.txt': 's3cret-from-file\n' },
  })
  t.equal(config.idps.length, 1)
  t.equal(config.idps[0].clientSecret, 's3cret-from-file')
  const crlf = await load(t, { config: `${IDP}${ISSUER}${CLIENT}    client_secret_file: s.txt\n`, files: { 's.txt': 'with-crlf\r\n' } })
  t.equal(crlf.idps[0].clientSecret, 'with-crlf', 'CRLF too')
  const inner = await load(t, { config: `${IDP}${ISSUER}${CLIENT}    client_secret_file: s.txt\n`, files: { 's.txt': 'a b\tc\n' } })
  t.equal(inner.idps[0].clientSecret, 'a b\tc', 'inner whitespace is kept')
})

t.test('an idp needs no secret with token_endpoint_auth_method: none', async (t) => {
  const config = await load(t, { config: `${IDP}${ISSUER}${CLIENT}    token_endpoint_auth_method: none\n` })
  t.equal(config.idps[0].tokenEndpointAuthMethod, 'none')
  t.equal(config.idps[0].clientSecret, undefined)
})

t.test('idp settings and their defaults; idp: for a single one', async (t) => {
  const single = await load(t, { config: 'idp:\n  id: corp\n  issuer: https://idp.example.com\n  client_id: gatehouse\n  client_secret: s3cret\n' })
  t.equal(single.idps.length, 1)
  const [d] = single.idps
  t.match(d, {
    id: 'corp',
    name: 'corp',
    logoUrl: undefined,
    issuer: 'https://idp.example.com',
    clientId: 'gatehouse',
    clientSecret: 's3cret',
    tokenEndpointAuthMethod: 'client_secret_basic',
    pkce: true,
    usernameClaim: 'preferred_username',
    emailClaim: 'email',
    groupsClaim: 'groups',
    userinfo: false,
    logout: false,
    autoLogin: false,
    requireVerifiedEmail: true,
  })
  t.strictSame(d.scopes, ['openid', 'profile', 'email'])
  t.strictSame(d.endpoints, { authorization: undefined, token: undefined, userinfo: undefined, jwks: undefined, endSession: undefined })
  t.equal(d.groupMappings.size, 0)
  t.ok(Object.isFrozen(d))

  const full = await load(t, {
    config: [
      'idps:',
      '  - id: auth0',
      '    name: Auth0 <Corp>',
      '    logo_url: https://cdn.example.com/auth0.svg',
      '    issuer: http://127.0.0.1:9999/',
      '    authorization_url: http://127.0.0.1:9999/authorize',
      '    token_url: http://127.0.0.1:9999/oauth/token',
      '    jwks_url: http://127.0.0.1:9999/.well-known/jwks.json',
      '    userinfo_url: http://127.0.0.1:9999/userinfo',
      '    end_session_url: http://127.0.0.1:9999/v2/logout',
      '    client_id: gatehouse',
      '    client_secret: s3cret',
      '    token_endpoint_auth_method: client_secret_post',
      '    scopes: [openid, email]',
      '    pkce: none',
      '    username_claim: email',
      '    email_claim: mail',
      '    groups_claim: https://example.com/roles',
      '    group_mappings: { admin: administrators, "Kasm Premium": premium }',
      '    userinfo: true',
      '    logout: true',
      '    auto_login: true',
      '  - id: second',
      '    issuer: http://localhost:9998',
      '    client_id: gatehouse',
      '    client_secret: s3cret',
      'routes:',
      '  - from: https://app.example.com',
      '    to: http://127.0.0.1:9000',
      '    idp: second',
      '',
    ].join('\n'),
  })
  const [a, second] = full.idps
  t.match(a, {
    id: 'auth0',
    name: 'Auth0 <Corp>',
    logoUrl: 'https://cdn.example.com/auth0.svg',
    issuer: 'http://127.0.0.1:9999/',
    tokenEndpointAuthMethod: 'client_secret_post',
    pkce: false,
    usernameClaim: 'email',
    emailClaim: 'mail',
    groupsClaim: 'https://example.com/roles',
    userinfo: true,
    logout: true,
    autoLogin: true,
  })
  t.strictSame(a.scopes, ['openid', 'email'])
  t.strictSame(a.endpoints, {
    authorization: 'http://127.0.0.1:9999/authorize',
    token: 'http://127.0.0.1:9999/oauth/token',
    userinfo: 'http://127.0.0.1:9999/userinfo',
    jwks: 'http://127.0.0.1:9999/.well-known/jwks.json',
    endSession: 'http://127.0.0.1:9999/v2/logout',
  })
  t.strictSame(
    [...a.groupMappings],
    [
      ['admin', 'administrators'],
      ['Kasm Premium', 'premium'],
    ],
  )
  t.equal(second.issuer, 'http://localhost:9998', 'http on localhost is accepted')
  t.equal(full.routes[0].idp, 'second')
})
