// Malformed policies, through loadConfig as `gatehouse check` and `serve` read them: each
// must be refused (never loaded, so never allowing by default) with its exact message,
// FILE:LINE:COL and key path.

import t from 'tap'
import path from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { policyReader } from '../../src/config/policy-reader.js'
import type { ReadContext } from '../../src/config/schema.js'
import { fromLibrary } from '../../src/config/yaml-tree.js'
import { ConfigError, formatIssue, type ConfigIssue } from '../../src/errors.js'
import { parsePolicy } from '../../src/policy/index.js'
import { writeConfigDir, type ConfigFiles } from '../helpers/gatehouse.js'
import { issuesOf, request, USERS } from './helpers.js'

/** How the loader names a file in messages (relative to the working directory when inside it). */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file)
  return rel && !rel.startsWith('..') ? rel : file
}

interface Test {
  teardown(fn: () => void): void
}

/** Loads a config folder that must be refused and returns its issues. */
async function refuse(tt: Test, files: ConfigFiles): Promise<{ dir: string; err: ConfigError }> {
  const written = writeConfigDir(files)
  tt.teardown(written.cleanup)
  const outcome = await loadConfig(written.configFile, { env: {} }).then(
    (config) => ({ config }),
    (error: unknown) => ({ error }),
  )
  if (!('error' in outcome)) throw new Error(`expected the config to be refused; it loaded with ${outcome.config.routes.length} routes`)
  if (!(outcome.error instanceof ConfigError)) throw outcome.error
  return { dir: written.dir, err: outcome.error }
}

/** The first lines of config.yaml; the policy's own lines start at line 5, column 7. */
const HEAD = 'routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    policy:\n'
const FIRST_LINE = 5
const INDENT = 6

/** [policy line index, text the issue points at (its first occurrence on that line; `$`
 *  for just after the end, where an empty value sits), key path, message, and, for an
 *  issue about a key, where Gatehouse points instead today: its value on the same line
 *  (`value`) or on the next (`next-line`)]. */
type Expected = [row: number, at: string, keyPath: string, message: string]

interface Case {
  name: string
  /** The policy's lines, without the indentation under `policy:`. */
  policy: string[]
  expected: Expected[]
}

const P = 'routes[0].policy'
const OR = `${P}.allow.or`

const cases: Case[] = [
  {
    name: 'unknown criteria, with and without a suggestion',
    policy: ['allow:', '  or:', '    - emails: ann@example.com', '    - grups: admin', '    - frobnicate: true', '    - soruce_ip: 10.0.0.0/8'],
    expected: [
      [2, 'emails', `${OR}[0].emails`, 'unknown policy criterion "emails" (did you mean "email"?)'],
      [3, 'grups', `${OR}[1].grups`, 'unknown policy criterion "grups" (did you mean "groups"?)'],
      [4, 'frobnicate', `${OR}[2].frobnicate`, 'unknown policy criterion "frobnicate"'],
      [5, 'soruce_ip', `${OR}[3].soruce_ip`, 'unknown policy criterion "soruce_ip" (did you mean "source_ip"?)'],
    ],
  },
  {
    name: 'an unknown criterion whose value is on the next line',
    policy: ['allow:', '  or:', '    - whitelist:', '        is: ann@example.com'],
    expected: [[2, 'whitelist', `${OR}[0].whitelist`, 'unknown policy criterion "whitelist"']],
  },
  {
    name: 'a sub-path on a criterion that takes none, and claim without a name',
    policy: ['allow:', '  or:', '    - email/work: ann@example.com', '    - claim: admin', '    - claim/: admin'],
    expected: [
      [2, 'email/work', `${OR}[0].email/work`, 'email takes no sub-path after /'],
      [3, 'admin', `${OR}[1].claim`, 'claim needs a claim name: claim/NAME (e.g. claim/groups or claim/https://example.com/roles)'],
      [4, 'admin', `${OR}[2].claim/`, 'claim needs a claim name: claim/NAME (e.g. claim/groups or claim/https://example.com/roles)'],
    ],
  },
  {
    name: 'unknown string matcher operators',
    policy: [
      'allow:',
      '  or:',
      '    - email: {equals: ann@example.com}',
      '    - http_path: {starts_wth: /api}',
      '    - domain:',
      '        endswith: example.com',
    ],
    expected: [
      [
        2,
        'equals',
        `${OR}[0].email.equals`,
        'unknown string matcher operator "equals"; use one of is, is_not, not, starts_with, ends_with, contains, in, not_in',
      ],
      [
        3,
        'starts_wth',
        `${OR}[1].http_path.starts_wth`,
        'unknown string matcher operator "starts_wth" (did you mean "starts_with"?); use one of is, is_not, not, starts_with, ends_with, contains, in, not_in',
      ],
      [
        5,
        'endswith',
        `${OR}[2].domain.endswith`,
        'unknown string matcher operator "endswith" (did you mean "ends_with"?); use one of is, is_not, not, starts_with, ends_with, contains, in, not_in',
      ],
    ],
  },
  {
    name: 'unknown list matcher operators (string operators do not apply to lists)',
    policy: ['allow:', '  or:', '    - groups: {haz: admin}', '    - groups: {contains: admin}', '    - claim/roles: {in: [a, b]}'],
    expected: [
      [2, 'haz', `${OR}[0].groups.haz`, 'unknown list matcher operator "haz" (did you mean "has"?); use one of has, is, exclude'],
      [3, 'contains', `${OR}[1].groups.contains`, 'unknown list matcher operator "contains"; use one of has, is, exclude'],
      [4, 'in', `${OR}[2].claim/roles.in`, 'unknown list matcher operator "in" (did you mean "is"?); use one of has, is, exclude'],
    ],
  },
  {
    name: 'matchers without operators',
    policy: ['allow:', '  or:', '    - email: {}', '    - groups: {}'],
    expected: [
      [2, '{}', `${OR}[0].email`, 'a string matcher needs at least one operator (is, is_not, not, starts_with, ends_with, contains, in, not_in)'],
      [3, '{}', `${OR}[1].groups`, 'a list matcher needs at least one operator (has, is, exclude)'],
    ],
  },
  {
    name: 'wrong value types in matchers',
    policy: [
      'allow:',
      '  or:',
      '    - email: [ann@example.com, bob@example.com]',
      '    - groups: {has: [admin]}',
      '    - http_method: {in: GET}',
      '    - http_path: {not_in: [/a, {x: 1}]}',
      '    - user:',
    ],
    expected: [
      [2, '[', `${OR}[0].email`, 'must be a string, got a list'],
      [3, '[admin]', `${OR}[1].groups.has`, 'must be a string, got a list'],
      [4, 'GET', `${OR}[2].http_method.in`, 'must be a list of strings, got string "GET"'],
      [5, '{x: 1}', `${OR}[3].http_path.not_in[1]`, 'must be a string, got a mapping'],
      [6, '$', `${OR}[4].user`, 'must be a string, got nothing'],
    ],
  },
  {
    name: 'numbers and booleans where text is compared (claims take them)',
    policy: [
      'allow:',
      '  or:',
      '    - email: 1234',
      '    - user: {in: [u-ann, 42]}',
      '    - http_method: {is: true}',
      '    - http_path: {starts_with: 404}',
      '    - groups: {has: 1234}',
      '    - domain: {not_in: [false]}',
      '    - groups: {exclude: 7}',
      '    - claim/age: {is: 30}',
      '    - claim/email_verified: true',
    ],
    expected: [
      [2, '1234', `${OR}[0].email`, 'must be a string, got number 1234; quote it: "1234"'],
      [3, '42', `${OR}[1].user.in[1]`, 'must be a string, got number 42; quote it: "42"'],
      [4, 'true', `${OR}[2].http_method.is`, 'must be a string, got boolean true; quote it: "true"'],
      [5, '404', `${OR}[3].http_path.starts_with`, 'must be a string, got number 404; quote it: "404"'],
      [6, '1234', `${OR}[4].groups.has`, 'must be a string, got number 1234; quote it: "1234"'],
      [7, 'false', `${OR}[5].domain.not_in[0]`, 'must be a string, got boolean false; quote it: "false"'],
      [8, '7', `${OR}[6].groups.exclude`, 'must be a string, got number 7; quote it: "7"'],
    ],
  },
  {
    name: 'criteria that take only true (or 1): false and 0 say why',
    policy: ['allow:', '  or:', '    - accept: false', '    - reject: "true"', '    - authenticated_user: yes', '    - cors_preflight: 0', '    - reject: 2'],
    expected: [
      [
        2,
        'false',
        `${OR}[0].accept`,
        'cannot be false: a criterion that could only ever not match is a mistake (Pomerium would ignore the false and match); remove the criterion, or use reject or the not operator',
      ],
      [3, '"true"', `${OR}[1].reject`, 'must be true (use the not operator to negate a criterion)'],
      [4, 'yes', `${OR}[2].authenticated_user`, 'must be true (use the not operator to negate a criterion)'],
      [
        5,
        '0',
        `${OR}[3].cors_preflight`,
        'cannot be 0: a criterion that could only ever not match is a mistake (Pomerium would ignore the 0 and match); remove the criterion, or use reject or the not operator',
      ],
      [6, '2', `${OR}[4].reject`, 'must be true (use the not operator to negate a criterion)'],
    ],
  },
  {
    name: 'more than one key in a criterion, and none',
    policy: ['allow:', '  or:', '    - email: ann@example.com', '      groups: admin', '    - {}', '    - accept'],
    expected: [
      [2, 'email', `${OR}[0]`, 'each criterion may only contain a single key and value; found email, groups'],
      [4, '{}', `${OR}[1]`, 'each criterion may only contain a single key and value; found none'],
      [5, 'accept', `${OR}[2]`, 'each criterion must be a mapping with one key, such as {email: {is: ann@example.com}}; got string "accept"'],
    ],
  },
  {
    name: 'conditionals other than and, or, not, nor',
    policy: ['allow:', '  xor: [{accept: true}]', '  any: [{accept: true}]', 'deny:', '  unless: [{accept: true}]'],
    expected: [
      [1, 'xor', `${P}.allow.xor`, 'unsupported conditional "xor" (did you mean "or"?): only and, or, not, nor and action are allowed'],
      [2, 'any', `${P}.allow.any`, 'unsupported conditional "any" (did you mean "and"?): only and, or, not, nor and action are allowed'],
      [4, 'unless', `${P}.deny.unless`, 'unsupported conditional "unless": only and, or, not, nor and action are allowed'],
    ],
  },
  {
    name: 'conditionals that are not lists, rule bodies that are not mappings',
    policy: ['- allow:', '    or: {email: ann@example.com}', '- deny: [{accept: true}]', '- allow:'],
    expected: [
      [1, '{', `${P}[0].allow.or`, 'must be a list of criteria, got a mapping'],
      [2, '[', `${P}[1].deny`, 'must be a mapping of and, or, not, nor to lists of criteria, got a list'],
      [3, '$', `${P}[2].allow`, 'must be a mapping of and, or, not, nor to lists of criteria, got nothing'],
    ],
  },
  {
    name: 'unknown rule keys, an operator outside allow/deny, an empty rule, a rule that is no mapping',
    policy: ['- alow: {or: [{accept: true}]}', '- or: [{accept: true}]', '- {}', '- accept'],
    expected: [
      [0, 'alow', `${P}[0].alow`, 'unknown rule key "alow" (did you mean "allow"?); a rule has allow and/or deny'],
      [1, 'or', `${P}[1].or`, 'unknown rule key "or" (put or under allow: or deny:); a rule has allow and/or deny'],
      [2, '{}', `${P}[2]`, 'an empty rule; write allow: or deny:'],
      [3, 'accept', `${P}[3]`, 'a rule must be a mapping with allow and/or deny, got string "accept"'],
    ],
  },
  {
    name: 'action not allow or deny',
    policy: ['- action: permit', '  or: [{accept: true}]', '- action: Allow', '  or: [{accept: true}]', '- action:', '  or: [{accept: true}]'],
    expected: [
      [0, 'permit', `${P}[0].action`, 'must be allow or deny, got string "permit"'],
      [2, 'Allow', `${P}[1].action`, 'must be allow or deny, got string "Allow"'],
      [4, '$', `${P}[2].action`, 'must be allow or deny, got nothing'],
    ],
  },
  {
    name: 'the flat form refuses allow/deny keys beside action',
    policy: ['action: allow', 'allow: {or: [{accept: true}]}'],
    expected: [[1, 'allow', `${P}.allow`, 'unsupported conditional "allow": only and, or, not, nor and action are allowed']],
  },
  {
    name: 'time zones missing, unknown or not strings',
    policy: [
      'allow:',
      '  or:',
      '    - time_of_day: {after: "09:00", before: "17:00"}',
      '    - time_of_day: {after: "09:00", timezone: Mars/Olympus_Mons}',
      '    - day_of_week: {days: mon-fri, timezone: CEST}',
      '    - date: {after: "2026-01-05", timezone: 1}',
      '    - date: {after: "2026-01-05", timezone: europe/berlín}',
    ],
    expected: [
      [2, '{', `${OR}[0].time_of_day`, 'needs a timezone (an IANA name such as Europe/Berlin or UTC)'],
      [3, 'Mars', `${OR}[1].time_of_day.timezone`, 'unknown time zone "Mars/Olympus_Mons" (use an IANA name such as Europe/Berlin)'],
      [4, 'CEST', `${OR}[2].day_of_week.timezone`, 'unknown time zone "CEST" (use an IANA name such as Europe/Berlin)'],
      [5, '1}', `${OR}[3].date.timezone`, 'must be an IANA time zone name, got number 1'],
      [6, 'europe', `${OR}[4].date.timezone`, 'unknown time zone "europe/berlín" (use an IANA name such as Europe/Berlin)'],
    ],
  },
  {
    name: 'bad times of day',
    policy: [
      'allow:',
      '  or:',
      '    - time_of_day: {after: "24:00", timezone: UTC}',
      '    - time_of_day: {after: 900, before: "9:60", timezone: UTC}',
      '    - time_of_day: {after: "09:00", before: "09:00", timezone: UTC}',
      '    - time_of_day: {timezone: UTC}',
      '    - time_of_day: {after: "09:00", until: "10:00", timezone: UTC}',
      '    - time_of_day: "09:00-17:00"',
    ],
    expected: [
      [2, '"24:00"', `${OR}[0].time_of_day.after`, 'must be a time of day such as "09:00" or "17:30:00", got string "24:00"'],
      [3, '900', `${OR}[1].time_of_day.after`, 'must be a time of day such as "09:00" or "17:30:00", got number 900'],
      [3, '"9:60"', `${OR}[1].time_of_day.before`, 'must be a time of day such as "09:00" or "17:30:00", got string "9:60"'],
      [4, '{', `${OR}[2].time_of_day`, 'after and before are equal: the window would be empty'],
      [5, '{', `${OR}[3].time_of_day`, 'needs after, before, or both'],
      [6, 'until', `${OR}[4].time_of_day.until`, 'unknown key; expected after, before, timezone'],
      [7, '"09:00-17:00"', `${OR}[5].time_of_day`, 'must be a mapping with after, before and timezone, got string "09:00-17:00"'],
    ],
  },
  {
    name: 'bad dates',
    policy: [
      'allow:',
      '  or:',
      '    - date: {after: 2026-13-01}',
      '    - date: {before: 2026-02-30}',
      '    - date: {after: "2026-01-05T25:00"}',
      '    - date: {after: 5 January 2026}',
      '    - date: {after: 2026-02-01, before: 2026-01-01}',
      '    - date: {after: 2026-01-01, before: 2026-01-01}',
      '    - date: 2026-01-05',
      '    - date: {after: 20260105}',
      '    - date: {timezone: UTC}',
    ],
    expected: [
      [2, '2026', `${OR}[0].date.after`, '"2026-13-01" is not a valid date or date-time (2026-01-05, 2026-01-05T09:00, 2026-01-05T09:00:00Z)'],
      [3, '2026', `${OR}[1].date.before`, '"2026-02-30" is not a valid date or date-time (2026-01-05, 2026-01-05T09:00, 2026-01-05T09:00:00Z)'],
      [4, '"2026', `${OR}[2].date.after`, '"2026-01-05T25:00" is not a valid date or date-time (2026-01-05, 2026-01-05T09:00, 2026-01-05T09:00:00Z)'],
      [5, '5 Jan', `${OR}[3].date.after`, '"5 January 2026" is not a valid date or date-time (2026-01-05, 2026-01-05T09:00, 2026-01-05T09:00:00Z)'],
      [6, '{', `${OR}[4].date`, 'after must be earlier than before'],
      [7, '{', `${OR}[5].date`, 'after must be earlier than before'],
      [8, '2026', `${OR}[6].date`, 'must be a mapping with after and/or before, got string "2026-01-05"'],
      [9, '2026', `${OR}[7].date.after`, 'must be a date or date-time such as 2026-01-05 or 2026-01-05T09:00:00Z, got number 20260105'],
      [10, '{', `${OR}[8].date`, 'needs after, before, or both'],
    ],
  },
  {
    name: 'bad days',
    policy: [
      'allow:',
      '  or:',
      '    - day_of_week: mon-frx',
      '    - day_of_week: "sat,,sun"',
      '    - day_of_week: mon-wed-fri',
      '    - day_of_week: 1-5',
      '    - day_of_week: {timezone: UTC}',
      '    - day_of_week: {days: [mon, tue]}',
      '    - day_of_week: {days: mon, zone: UTC}',
    ],
    expected: [
      [2, 'mon', `${OR}[0].day_of_week`, '"mon-frx" is not a day or day range (mon, tue, ..., sun; ranges like mon-fri)'],
      [3, '"sat', `${OR}[1].day_of_week`, '"" is not a day or day range (mon, tue, ..., sun; ranges like mon-fri)'],
      [4, 'mon', `${OR}[2].day_of_week`, '"mon-wed-fri" is not a day or day range (mon, tue, ..., sun; ranges like mon-fri)'],
      [5, '1-5', `${OR}[3].day_of_week`, '"1-5" is not a day or day range (mon, tue, ..., sun; ranges like mon-fri)'],
      [6, '{', `${OR}[4].day_of_week`, 'needs days (e.g. mon-fri)'],
      [7, '[', `${OR}[5].day_of_week.days`, 'must be days such as mon-fri or sat,sun, got a list'],
      [8, 'zone', `${OR}[6].day_of_week.zone`, 'unknown key; expected days, timezone'],
    ],
  },
  {
    name: 'bad addresses and CIDR ranges',
    policy: [
      'allow:',
      '  or:',
      '    - source_ip: 10.0.0.0/33',
      '    - source_ip: [10.0.0.0/8, "::/129", 300.1.2.3, 5]',
      '    - source_ip: 10.0.0/8',
      '    - source_ip: 10.0.0.0/8/1',
      '    - source_ip: "2001:db8::/"',
      '    - source_ip: localhost',
      '    - source_ip: []',
      '    - source_ip: {cidr: 10.0.0.0/8}',
      '    - source_ip: 10.0.0.0/-1',
      '    - source_ip: "::ffff:0:0/80"',
      '    - source_ip: [10.0.0.0/8, "::ffff:10.0.0.0/95"]',
    ],
    expected: [
      [2, '10.', `${OR}[0].source_ip`, '"10.0.0.0/33" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [3, '"::', `${OR}[1].source_ip[1]`, '"::/129" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [3, '300', `${OR}[1].source_ip[2]`, '"300.1.2.3" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [3, '5]', `${OR}[1].source_ip[3]`, 'must be an IP address or CIDR range, got number 5'],
      [4, '10.', `${OR}[2].source_ip`, '"10.0.0/8" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [5, '10.', `${OR}[3].source_ip`, '"10.0.0.0/8/1" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [6, '"2001', `${OR}[4].source_ip`, '"2001:db8::/" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [7, 'localhost', `${OR}[5].source_ip`, '"localhost" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [8, '[]', `${OR}[6].source_ip`, 'must name at least one address or CIDR range'],
      [9, '{', `${OR}[7].source_ip`, 'must be an IP address or CIDR range, got a mapping'],
      [10, '10.', `${OR}[8].source_ip`, '"10.0.0.0/-1" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)'],
      [
        11,
        '"::',
        `${OR}[9].source_ip`,
        '"::ffff:0:0/80" is an IPv4-mapped range shorter than /96, so it would also take in IPv6 addresses that are not IPv4; write it as an IPv4 range (::ffff:10.0.0.0/104 is 10.0.0.0/8)',
      ],
      [
        12,
        '"::',
        `${OR}[10].source_ip[1]`,
        '"::ffff:10.0.0.0/95" is an IPv4-mapped range shorter than /96, so it would also take in IPv6 addresses that are not IPv4; write it as an IPv4 range (::ffff:10.0.0.0/104 is 10.0.0.0/8)',
      ],
    ],
  },
  {
    name: 'a policy that is a string',
    policy: ['allow everyone'],
    expected: [[0, 'allow', P, 'a rule must be a mapping with allow and/or deny, got string "allow everyone"']],
  },
]

t.test('malformed policies', async (t) => {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const config = HEAD + c.policy.map((line) => ' '.repeat(INDENT) + line).join('\n') + '\n'
      const { err, dir } = await refuse(t, { config })
      const file = shown(path.join(dir, 'config.yaml'))
      t.equal(err.code, 'GH_ERR_CONFIG_INVALID')
      t.equal(err.message, err.issues.map(formatIssue).join('\n'), 'the message lists every issue, one a line')
      const got = err.issues.map(formatIssue)
      t.equal(err.issues.length, c.expected.length, `issue count; got:\n${got.join('\n')}`)
      c.expected.forEach(([row, at, keyPath, message], i) => {
        const col = at === '$' ? c.policy[row].length : c.policy[row].indexOf(at)
        if (col === -1) throw new Error(`${JSON.stringify(at)} is not on policy line ${row}`)
        const issue = err.issues[i]
        t.strictSame(issue && { file: issue.file, path: issue.path, message: issue.message }, { file, path: keyPath, message }, `issue ${i}: ${got[i]}`)
        // Problems with a name (unknown criterion, operator, conditional, key) point at the
        // key, as the config loader does; problems with a value point at the value.
        t.strictSame(
          issue && { line: issue.line, col: issue.col },
          { line: FIRST_LINE + row, col: INDENT + col + 1 },
          `issue ${i} points at ${JSON.stringify(at)}`,
        )
      })
      // The engine on its own refuses the same policy with the same paths.
      const text = c.policy.join('\n')
      const issues = issuesOf(text, P)
      t.strictSame(
        issues.map((i) => i.path),
        c.expected.map((e) => e[2]),
        'parsePolicy gives the same paths',
      )
    })
  }
})

t.test('route-level conflicts of the legacy fields', async (t) => {
  const route = (extra: string) =>
    `routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    allow_public_unauthenticated_access: true\n${extra}`
  const conflicts: [string, string, string][] = [
    ['allowed_groups', '    allowed_groups: [admin]\n', 'allowed_groups'],
    ['allow_any_authenticated_user', '    allow_any_authenticated_user: true\n', 'allow_any_authenticated_user'],
    ['allowed_users and allowed_domains', '    allowed_users: [ann@example.com]\n    allowed_domains: [example.com]\n', 'allowed_users, allowed_domains'],
    ['allowed_idp_claims', '    allowed_idp_claims:\n      roles: [admin]\n', 'allowed_idp_claims'],
    [
      'everything',
      '    allowed_idp_claims: {roles: admin}\n    allowed_groups: [g]\n    allow_any_authenticated_user: true\n',
      'allow_any_authenticated_user, allowed_groups, allowed_idp_claims',
    ],
  ]
  for (const [name, extra, listed] of conflicts) {
    t.test(`public access with ${name}`, async (t) => {
      const { err, dir } = await refuse(t, { config: route(extra) })
      t.strictSame(err.issues.map(formatIssue), [
        `${shown(path.join(dir, 'config.yaml'))}:2:5 routes[0]: allow_public_unauthenticated_access cannot be combined with ${listed}: public access already lets everyone in`,
      ])
    })
  }

  const anyUser = (extra: string) => `routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    allow_any_authenticated_user: true\n${extra}`
  const anyUserConflicts: [string, string, string][] = [
    ['allowed_users', '    allowed_users: [ann@example.com]\n', 'allowed_users'],
    ['allowed_domains', '    allowed_domains: [example.com]\n', 'allowed_domains'],
    ['allowed_groups', '    allowed_groups: [admin]\n', 'allowed_groups'],
    ['allowed_idp_claims', '    allowed_idp_claims:\n      roles: [admin]\n', 'allowed_idp_claims'],
    [
      'all four lists',
      '    allowed_idp_claims: {roles: [admin]}\n    allowed_groups: [g]\n    allowed_domains: [example.com]\n    allowed_users: [u]\n',
      'allowed_users, allowed_domains, allowed_groups, allowed_idp_claims',
    ],
  ]
  for (const [name, extra, listed] of anyUserConflicts) {
    t.test(`any signed-in user with ${name}`, async (t) => {
      const { err, dir } = await refuse(t, { config: anyUser(extra) })
      t.strictSame(err.issues.map(formatIssue), [
        `${shown(path.join(dir, 'config.yaml'))}:2:5 routes[0]: allow_any_authenticated_user cannot be combined with ${listed}: any signed-in user already gets in, so the lists do nothing`,
      ])
    })
  }

  t.test('these load: any signed-in user with empty lists or with CORS preflights', async (t) => {
    for (const extra of ['    allowed_users: []\n    allowed_idp_claims: {}\n', '    cors_allow_preflight: true\n']) {
      const written = writeConfigDir({ config: anyUser(extra) })
      t.teardown(written.cleanup)
      const config = await loadConfig(written.configFile, { env: {} })
      t.equal(config.routes.length, 1, extra)
    }
  })

  t.test('in a routes file, next to a valid route', async (t) => {
    const { err, dir } = await refuse(t, {
      config: 'log_level: info\n',
      files: {
        'policies/app.yaml': `routes:\n  - from: http://ok.example.com\n    to: http://127.0.0.1:9000\n    allow_public_unauthenticated_access: true\n  - from: http://b.example.com\n    to: http://127.0.0.1:9000\n    allowed_groups: [admin]\n    allow_public_unauthenticated_access: true\n`,
      },
    })
    t.strictSame(err.issues.map(formatIssue), [
      `${shown(path.join(dir, 'policies/app.yaml'))}:5:5 routes[1]: allow_public_unauthenticated_access cannot be combined with allowed_groups: public access already lets everyone in`,
    ])
  })

  t.test('these load: public access with empty lists, or with public access false', async (t) => {
    for (const extra of ['    allowed_groups: []\n', '    allow_any_authenticated_user: false\n    cors_allow_preflight: true\n']) {
      const written = writeConfigDir({ config: route(extra) })
      t.teardown(written.cleanup)
      const config = await loadConfig(written.configFile, { env: {} })
      t.equal(config.routes.length, 1)
    }
    const written = writeConfigDir({
      config: `routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    allow_public_unauthenticated_access: false\n    allowed_groups: [admin]\n`,
    })
    t.teardown(written.cleanup)
    t.equal((await loadConfig(written.configFile, { env: {} })).routes.length, 1)
  })
})

t.test('a policy in a routes file is located in that file', async (t) => {
  const { err, dir } = await refuse(t, {
    config: '',
    files: {
      'policies/app.yaml':
        'routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    policy:\n      - allow:\n          and:\n            - source_ip: 10.0.0.0/33\n',
    },
  })
  t.strictSame(err.issues.map(formatIssue), [
    `${shown(path.join(dir, 'policies/app.yaml'))}:7:26 routes[0].policy[0].allow.and[0].source_ip: "10.0.0.0/33" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)`,
  ])
})

t.test('one bad route refuses the whole configuration', async (t) => {
  const { err } = await refuse(t, {
    config:
      'routes:\n  - from: http://ok.example.com\n    to: http://127.0.0.1:9000\n    allow_public_unauthenticated_access: true\n  - from: http://b.example.com\n    to: http://127.0.0.1:9000\n    policy: {allow: {or: [{accept: yes}]}}\n',
  })
  t.equal(err.issues.length, 1)
  t.equal(err.issues[0].path, 'routes[1].policy.allow.or[0].accept')
})

t.test('policies that load, for contrast', async (t) => {
  const good = [
    'policy: {}',
    'policy: []',
    'policy:',
    'policy: {allow: {}}',
    'policy: {allow: {or: []}}',
    'policy: {action: deny, or: [{http_path: /admin}]}',
    'policy:\n      - allow: {or: [{claim/https://example.com/roles: admin}]}\n      - deny: {nor: [{day_of_week: {days: "mon-fri", timezone: Europe/Berlin}}]}',
  ]
  for (const line of good) {
    const written = writeConfigDir({ config: `routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    ${line}\n` })
    t.teardown(written.cleanup)
    const config = await loadConfig(written.configFile, { env: {} })
    t.equal(config.routes.length, 1, line)
  }
})

t.test('an empty policy loads, denies every request, and warns', async (t) => {
  const message = "an empty policy denies every request (only the route's allow_* and allowed_* fields, if any, let anyone in)"
  // [as written on the route's line 4, the column the warning points at]
  const empties: [string, number][] = [
    ['policy: {}', 13],
    ['policy: []', 13],
    ['policy:', 12],
  ]
  for (const [line, col] of empties) {
    t.test(line, async (t) => {
      const config = `routes:\n  - from: http://a.example.com\n    to: http://127.0.0.1:9000\n    ${line}\n`
      const written = writeConfigDir({ config })
      t.teardown(written.cleanup)
      const loaded = await loadConfig(written.configFile, { env: {} })
      const decision = loaded.routes[0].policy.evaluate({ request: request(), user: USERS.ann })
      t.equal(decision.verdict, 'deny', 'a signed-in user is denied')
      t.strictSame(decision.reasons, [], 'with no reasons: there was nothing to match')

      // The reader records the warning where the operator wrote the empty policy.
      const lines = new LineCounter()
      const doc = parseDocument(config, { lineCounter: lines, version: '1.2' })
      const warnings: ConfigIssue[] = []
      const ctx: ReadContext = { file: 'config.yaml', lines, env: {}, issues: [], warnings, aliasesSeen: 0 }
      const rules = policyReader.read(fromLibrary(doc.getIn(['routes', 0, 'policy'], true)), ctx, 'routes[0].policy')
      t.strictSame(rules, [], 'no rules')
      t.strictSame(ctx.issues, [], 'no issues')
      t.strictSame(warnings, [{ file: 'config.yaml', line: 4, col, path: 'routes[0].policy', message }])
    })
  }

  t.test('the engine on its own: no rules, one warning; a non-empty policy has none', async (t) => {
    t.strictSame(parsePolicy({}, 'p'), { rules: [], warnings: [{ path: 'p', message }] })
    t.strictSame(parsePolicy(null, 'p'), { rules: [], warnings: [{ path: 'p', message }] })
    const parsed = parsePolicy({ allow: { or: [{ accept: true }] } }, 'p')
    t.ok('rules' in parsed && parsed.rules.length === 1 && parsed.warnings.length === 0)
  })

  t.test('an empty rule inside a list is still refused', async (t) => {
    t.strictSame(issuesOf([{}], 'p'), [{ path: 'p[0]', message: 'an empty rule; write allow: or deny:' }])
  })
})
