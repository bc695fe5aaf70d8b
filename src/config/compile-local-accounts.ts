// local_accounts: reads and validates the accounts file at config load, so `check`
// refuses a bad file (every problem, each with file:line:col) before `serve` would use it.
//
//   accounts:
//     - username: breakglass
//       password_hash: "scrypt$32768$8$1$...$..."   # gatehouse hash-password
//       email: ops@example.com                       # optional
//       name: Break Glass                            # optional
//       groups: [admins]                             # optional

import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { LOCAL_IDP_ID, LocalAccounts, parsePasswordHash, type LocalAccount, type PasswordHash } from '../auth/local-accounts.js'
import type { ConfigIssue } from '../errors.js'
import { list, located, obj, refine, report, type Reader, type ReadContext } from './schema.js'
import { fromLibrary, isScalar, parseWithLibrary } from './yaml-tree.js'
import type { Located } from './schema.js'
import type { ConfigSpec, IdpSpec } from './spec.js'

/** An accounts file holds a few entries; the bound keeps a mistaken path (a log file,
 *  a disk image) from being read into memory. */
const MAX_FILE_BYTES = 1024 * 1024

/** Text exactly as written. The accounts file takes no ${ENV} references: a hash is full
 *  of `$`, and a password hash has no business in the environment anyway. */
function text(check?: (value: string) => string | undefined, expects = 'a string'): Reader<string> {
  return {
    expects,
    read(node, ctx, at) {
      if (!isScalar(node) || typeof node.value !== 'string') return report(ctx, node, at, `must be ${expects} (quote it)`)
      const problem = check?.(node.value)
      return problem ? report(ctx, node, at, problem) : node.value
    },
  }
}

const username = text(
  (name) => (/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/.test(name) ? undefined : 'must be 1 to 64 letters, digits and . _ @ + - (starting with a letter or digit)'),
  'a username',
)

const passwordHash = refine(text(undefined, 'a password hash from gatehouse hash-password'), (value): { value: PasswordHash } | { error: string } => {
  const parsed = parsePasswordHash(value)
  return 'error' in parsed ? parsed : { value: parsed }
})

/** A `password:` key is refused outright: a plaintext password in a file is one copy
 *  away from a leak. Its value is never quoted. */
const plaintextPassword: Reader<never> = {
  expects: 'nothing',
  read: (node, ctx, at) =>
    report(ctx, node, at, 'plaintext passwords are not accepted: write the output of `gatehouse hash-password` as password_hash, and remove this key'),
}

const accountSpec = obj(
  {
    username,
    password_hash: passwordHash,
    password: plaintextPassword,
    email: text((v) => (/^[^\s@]{1,64}@[^\s@]{1,253}$/.test(v) ? undefined : 'must be an email address'), 'an email address'),
    name: text((v) => (v.length <= 256 && !/[\u0000-\u001f\u007f]/.test(v) ? undefined : 'must be at most 256 characters, without control characters')),
    groups: list(text((v) => (v.length > 0 && v.length <= 256 ? undefined : 'must be 1 to 256 characters'), 'a group name')),
  },
  { required: ['username', 'password_hash'], expects: 'an account: { username, password_hash, email, name, groups }' },
)

// partial: the accounts that read well are kept when others do not, so duplicate
// usernames are reported in the same pass as every other problem.
const fileSpec = obj(
  { accounts: list(located(accountSpec), { min: 1, partial: true }) },
  { required: ['accounts'], expects: 'a mapping with an accounts list' },
)

export interface LocalAccountsInput {
  readonly spec: ConfigSpec['local_accounts']
  /** The configured IdPs: none may take the id reserved for local accounts. */
  readonly idps: readonly Located<IdpSpec>[]
  readonly baseDir: string
  /** config.yaml as shown to the operator: the accounts file is named relative to it. */
  readonly configShown: string | undefined
  /** Reports a problem at a key of config.yaml. */
  readonly top: (key: string) => (message: string) => void
  readonly issues: ConfigIssue[]
}

function readAccountsFile(file: string, shown: string, issue: (message: string) => void): string | undefined {
  try {
    const info = statSync(file)
    if (!info.isFile()) return void issue(`${shown} is not a regular file`)
    if (info.size > MAX_FILE_BYTES) return void issue(`${shown} is ${info.size} bytes; an accounts file may be at most ${MAX_FILE_BYTES} bytes`)
    return readFileSync(file, 'utf8')
  } catch (err) {
    return void issue(`cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

function parseAccounts(text: string, shown: string, issues: ConfigIssue[]): LocalAccount[] | undefined {
  const { doc, lines } = parseWithLibrary(text)
  const problems = [...doc.errors, ...doc.warnings]
  // The parser's own messages carry no source text (prettyErrors off), so no hash or
  // password from a malformed line is echoed.
  for (const problem of problems) issues.push({ file: shown, ...lines.linePos(problem.pos[0]), path: '', message: problem.message.split('\n')[0] })
  if (problems.length > 0) return undefined
  const ctx: ReadContext = { file: shown, lines, env: {}, issues, aliasesSeen: 0 }
  const read = fileSpec.read(fromLibrary(doc.contents), ctx, '')
  if (!read?.accounts) return undefined
  const first = new Map<string, Located<unknown>['at']>()
  const accounts: LocalAccount[] = []
  for (const { value, at } of read.accounts) {
    const name = value.username!
    const earlier = first.get(name)
    if (earlier) {
      issues.push({
        ...at,
        path: `${at.path}.username`,
        message: `duplicate username ${JSON.stringify(name)}: ${earlier.file}:${earlier.line}:${earlier.col} has it already`,
      })
      continue
    }
    first.set(name, at)
    accounts.push({
      username: name,
      hash: value.password_hash!,
      ...(value.email !== undefined ? { email: value.email } : {}),
      ...(value.name !== undefined ? { name: value.name } : {}),
      groups: Object.freeze([...(value.groups ?? [])]),
    })
  }
  return accounts
}

/** The accounts, or undefined when local_accounts is off or has problems (then added to
 *  `issues`, which the caller turns into one ConfigError with everything else). */
export function compileLocalAccounts(input: LocalAccountsInput): LocalAccounts | undefined {
  const { spec, issues } = input
  if (spec?.file === undefined) return undefined
  const before = issues.length
  // Sessions of local accounts carry the IdP id `local`; an IdP of that id could then
  // vouch for "local" users, or local users pass for its users.
  for (const idp of input.idps) {
    if (idp.value.id === LOCAL_IDP_ID)
      issues.push({
        ...idp.at,
        path: `${idp.at.path}.id`,
        message: `the id "${LOCAL_IDP_ID}" is reserved for local accounts while local_accounts is set; choose another id`,
      })
  }
  const shown = path.isAbsolute(spec.file) ? spec.file : path.join(path.dirname(input.configShown ?? 'config.yaml'), spec.file)
  const text = readAccountsFile(path.resolve(input.baseDir, spec.file), shown, input.top('local_accounts.file'))
  const accounts = text === undefined ? undefined : parseAccounts(text, shown, issues)
  if (accounts === undefined || issues.length > before) return undefined
  return new LocalAccounts(accounts, shown)
}
