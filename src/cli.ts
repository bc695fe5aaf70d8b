// gatehouse serve | check | keys

import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { loadConfig } from './config/load.js'
import { ConfigError, formatIssue } from './errors.js'
import { serveUntilSignalled } from './serve.js'

const USAGE = `usage: gatehouse <command> [options]

commands:
  serve  --config FILE   run the proxy (default config: ./config.yaml)
  check  --config FILE   validate the configuration and every policies/*.yaml; exit 1 on errors
  keys                   print a fresh cookie secret and ES256 signing key
`

async function check(configPath: string): Promise<number> {
  try {
    const config = await loadConfig(configPath)
    console.log(`${configPath}: OK (${config.routes.length} route${config.routes.length === 1 ? '' : 's'})`)
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    for (const issue of err.issues) console.error(formatIssue(issue))
    console.error(`${err.issues.length} error${err.issues.length === 1 ? '' : 's'}`)
    return 1
  }
}

function keys(): number {
  const secret = randomBytes(32).toString('base64')
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  console.log(`# session.secrets entry (32 random bytes, base64):\n${secret}\n`)
  console.log(`# identity.signing_key_file contents (ES256 private key):\n${privateKey.export({ type: 'pkcs8', format: 'pem' })}`)
  return 0
}

export async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
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
  switch (command) {
    case 'serve':
      try {
        await serveUntilSignalled(configPath)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        for (const issue of err.issues) console.error(formatIssue(issue))
        return 1
      }
      return -1
    case 'check':
      return check(configPath)
    case 'keys':
      return keys()
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err: Error) => {
    console.error(err.message)
    process.exitCode = 1
  },
)
