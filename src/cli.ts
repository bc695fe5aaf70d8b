// gatehouse serve | check | test | explain | keys

import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from './config/load.js'
import type { ExplainFlags } from './tools/explain.js'
import type { Config } from './config/compile.js'
import { ConfigError, formatIssue, GatehouseError } from './errors.js'
import { suggest } from './suggest.js'

const USAGE = `usage: gatehouse <command> [options]

commands:
  serve  --config FILE   run the proxy (default config: ./config.yaml)
  check  --config FILE   validate the configuration and every policies/*.yaml; exit 1 on errors
  test   --config FILE   run the policy tests (policies/*.test.yaml); exit 1 on a failure
  explain --config FILE --url URL [--method GET] [--user JSON] [--source-ip IP]
         [--time ISO] [--header 'Name: value']...
                         show the route a request reaches, the verdict, and the rule and
                         criteria that decided; --user is {"id","email","groups","claims"},
                         omitted for no session
  keys [--out DIR]       a fresh cookie secret and ES256 signing key: printed, or
                         written to DIR/cookie-secret and DIR/signing.pem
  hash-password          read a password from stdin (not echoed at a terminal; one
                         line when piped) and print its scrypt hash for local_accounts
`

const COMMANDS = ['serve', 'check', 'test', 'explain', 'keys', 'hash-password']

/** Options only explain takes. */
const EXPLAIN_OPTIONS = ['method', 'url', 'user', 'source-ip', 'time', 'header'] as const

const errors = (n: number) => `${n} error${n === 1 ? '' : 's'}`

/** The configuration, or undefined after listing its problems on stderr. */
async function configOrIssues(configPath: string): Promise<Config | undefined> {
  try {
    return await loadConfig(configPath)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const issue of err.issues) console.error(formatIssue(issue))
    console.error(errors(err.issues.length))
    return undefined
  }
}

async function check(configPath: string): Promise<number> {
  const config = await configOrIssues(configPath)
  if (!config) return 1
  for (const warning of config.warnings) console.error(`warning: ${formatIssue(warning)}`)
  console.log(`${configPath}: OK (${config.routes.length} route${config.routes.length === 1 ? '' : 's'})`)
  return 0
}

// Each command loads what it alone needs, so that check (run on every deploy and in
// editors) starts with the configuration modules only.

async function test(configPath: string): Promise<number> {
  const config = await configOrIssues(configPath)
  if (!config) return 1
  const { formatResult, formatSummary, loadPolicyTests, runPolicyTests, summarize } = await import('./tools/policy-tests.js')
  const loaded = await loadPolicyTests(config)
  if (loaded.found === 0) {
    console.log(`no policy tests (*.test.yaml) in ${config.policiesDir ?? 'policies_dir'}`)
    return 0
  }
  const results = runPolicyTests(config, loaded.files)
  for (const result of results) console.log(formatResult(result))
  for (const issue of loaded.issues) console.error(`FAIL ${formatIssue(issue)}`)
  // A test file that does not read is a failed test, not a footnote after the count.
  const broken = new Set(loaded.issues.map((issue) => issue.file)).size
  const summary = summarize(results)
  console.log(formatSummary({ passed: summary.passed, failed: summary.failed + broken }))
  return summary.failed + broken > 0 ? 1 : 0
}

async function explain(configPath: string, flags: ExplainFlags & { user?: string }): Promise<number> {
  const [{ explainRequest, formatExplanation, requestFromFlags }, { parseUserJson }] = await Promise.all([
    import('./tools/explain.js'),
    import('./tools/policy-tests.js'),
  ])
  const request = requestFromFlags(flags)
  if ('error' in request) return fail(request.error)
  const user = flags.user === undefined ? undefined : parseUserJson(flags.user)
  if (user && 'error' in user) return fail(user.error)
  const config = await configOrIssues(configPath)
  if (!config) return 1
  const result = explainRequest(config, request.value, user?.value)
  if ('error' in result) return fail(result.error)
  for (const line of formatExplanation(result.value, request.value)) console.log(line)
  return 0
}

function fail(message: string): number {
  console.error(`gatehouse: ${message}`)
  return 1
}

/** A fresh cookie secret and ES256 signing key: printed, or with --out written to
 *  DIR/cookie-secret and DIR/signing.pem (owner-only), never over existing files. */
function keys(out: string | undefined): number {
  const secret = randomBytes(32).toString('base64')
  const pem = String(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  if (out === undefined) {
    console.log(`# session.secrets entry (32 random bytes, base64):\n${secret}\n`)
    console.log(`# identity.signing_key_file contents (ES256 private key):\n${pem}`)
    return 0
  }
  mkdirSync(out, { recursive: true, mode: 0o700 })
  const files: [string, string][] = [
    [path.join(out, 'cookie-secret'), `${secret}\n`],
    [path.join(out, 'signing.pem'), pem],
  ]
  const existing = files.find(([file]) => existsSync(file))
  if (existing) return fail(`${existing[0]} exists already; keys are never overwritten (remove it, or choose another --out)`)
  for (const [file, text] of files) writeFileSync(file, text, { mode: 0o600, flag: 'wx' })
  console.log(`wrote ${files.map(([f]) => f).join(' and ')}`)
  return 0
}

/** Passwords longer than this are refused rather than read without end. */
const MAX_PASSWORD_BYTES = 1024

/** One line typed at a terminal, not echoed (raw mode); Ctrl-C or Ctrl-D gives undefined. */
function readHidden(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.resume()
  return new Promise((resolve) => {
    let typed = ''
    const finish = (value: string | undefined) => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      resolve(value)
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(typed)
        if (ch === '\u0003' || (ch === '\u0004' && typed === '')) return finish(undefined)
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('')
        else if (ch >= ' ') typed += ch
      }
    }
    stdin.on('data', onData)
  })
}

/** All of piped stdin, which must be one line: the password (a final newline allowed). */
async function readPipedLine(): Promise<string | { error: string }> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_PASSWORD_BYTES + 2) return { error: `the password is longer than ${MAX_PASSWORD_BYTES} bytes` }
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
  if (/[\r\n]/.test(text)) return { error: 'stdin holds more than one line; pipe in the password alone' }
  return text
}

/** gatehouse hash-password: the password comes from stdin, never from an argument (which
 *  would stay in shell history and show in the process list). */
async function hashPasswordCommand(extra: readonly string[]): Promise<number> {
  if (extra.length > 0) return fail('hash-password takes no arguments: type the password when asked, or pipe it in on stdin')
  let password: string
  if (process.stdin.isTTY) {
    const first = await readHidden('Password: ')
    const second = first === undefined ? undefined : await readHidden('Again: ')
    if (first === undefined || second === undefined) return fail('cancelled')
    if (first !== second) return fail('the two passwords differ')
    password = first
  } else {
    const line = await readPipedLine()
    if (typeof line !== 'string') return fail(line.error)
    password = line
  }
  if (password === '') return fail('the password is empty')
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return fail(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`)
  if ([...password].length < 12) console.error('warning: a password shorter than 12 characters is quick to guess; break-glass accounts deserve a long one')
  const { hashPassword } = await import('./auth/local-accounts.js')
  console.log(await hashPassword(password))
  return 0
}

export async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        method: { type: 'string' },
        url: { type: 'string' },
        user: { type: 'string' },
        'source-ip': { type: 'string' },
        time: { type: 'string' },
        header: { type: 'string', multiple: true },
        out: { type: 'string' },
      },
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const { positionals, values } = parsed
  const [command] = positionals
  const configPath = values.config ?? 'config.yaml'
  if (values.help || command === undefined) {
    process.stdout.write(USAGE)
    return command === undefined && !values.help ? 2 : 0
  }
  const misplaced = command === 'explain' ? undefined : EXPLAIN_OPTIONS.find((name) => values[name] !== undefined)
  if (misplaced) {
    process.stderr.write(`--${misplaced} is an option of explain, not of ${command}\n${USAGE}`)
    return 2
  }
  if (values.out !== undefined && command !== 'keys') {
    process.stderr.write(`--out is an option of keys, not of ${command}\n${USAGE}`)
    return 2
  }
  switch (command) {
    case 'serve':
      try {
        // Loaded only to serve: check, test and explain start without the proxy, the
        // HTTP stack and the IdP client.
        const { serveFromCli } = await import('./cluster/launch.js')
        await serveFromCli(configPath)
      } catch (err) {
        if (err instanceof GatehouseError && err.code === 'GH_ERR_LISTEN') return fail(err.message)
        if (!(err instanceof ConfigError)) throw err
        for (const issue of err.issues) console.error(formatIssue(issue))
        return 1
      }
      return -1
    case 'check':
      return check(configPath)
    case 'test':
      return test(configPath)
    case 'explain':
      if (values.url === undefined) {
        process.stderr.write(`explain needs --url\n${USAGE}`)
        return 2
      }
      return explain(configPath, {
        method: values.method,
        url: values.url,
        user: values.user,
        sourceIp: values['source-ip'],
        time: values.time,
        headers: values.header,
      })
    case 'keys':
      return keys(values.out)
    case 'hash-password':
      return hashPasswordCommand(positionals.slice(1))
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}${suggest(command, COMMANDS)}\n${USAGE}`)
      return 2
  }
}

// `gatehouse test | head` closes stdout early: the exit code should still tell the
// outcome, not an unhandled EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
})

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err: Error) => {
    console.error(err.message)
    process.exitCode = 1
  },
)
