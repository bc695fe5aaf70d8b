// Shared pieces of the policy suites: policies from YAML (or plain objects), requests,
// users, and a table runner that judges every row with both evaluate() and explain().

import type { Test } from 'tap'
import YAML from 'yaml'
import {
  parsePolicy,
  Policy,
  prepareUser,
  type Decision,
  type PolicyIssue,
  type PolicyRequest,
  type PreparedUser,
  type UserClaims,
  type Verdict,
} from '../../src/policy/index.js'

/** Monday 5 January 2026, 09:00 UTC. */
export const MONDAY_0900_UTC = Date.parse('2026-01-05T09:00:00Z')

/** A plain GET / from 10.1.2.3 on Monday morning (UTC), unless `over` says otherwise. */
export function request(over: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    method: 'GET',
    path: '/',
    host: 'app.example.com',
    sourceIp: '10.1.2.3',
    time: MONDAY_0900_UTC,
    origin: undefined,
    accessControlRequestMethod: undefined,
    ...over,
  }
}

/** Plain data from YAML text (YAML 1.2, as the loader reads it) or as given. */
export function plain(source: unknown): unknown {
  return typeof source === 'string' ? YAML.parse(source, { version: '1.2' }) : source
}

/** The issues of a policy that must not compile. */
export function issuesOf(source: unknown, path = 'policy'): PolicyIssue[] {
  const parsed = parsePolicy(plain(source), path)
  if ('rules' in parsed) throw new Error(`expected ${JSON.stringify(plain(source))} to be refused; it compiled into ${parsed.rules.length} rules`)
  return parsed.issues
}

/** A compiled policy; throws with the issues when it does not compile. */
export function compile(source: unknown): Policy {
  const parsed = parsePolicy(plain(source))
  if ('issues' in parsed) throw new Error(`policy did not compile: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`)
  return new Policy(parsed.rules)
}

/** Users as the IdP describes them; prepared once, as sessions are. */
export const USERS = {
  /** A well-formed user with groups and claims of every shape. */
  ann: prepareUser({
    id: 'u-ann',
    email: 'Ann@Example.COM',
    groups: ['admin', 'dev'],
    claims: {
      sub: 'u-ann',
      amr: 'mfa',
      roles: ['editor', 'viewer'],
      solo: ['editor'],
      empty: [],
      level: 5,
      nothing: null,
      object: { a: 1 },
      mixed: [1, 'two', { three: 3 }, null],
      address: { country: 'DE', city: { name: 'Berlin' } },
      'https://example.com/roles': ['admin', 'billing'],
      'auth0/roles': ['support'],
      'a.b': 'literal',
      a: { b: 'nested', c: 'only-nested' },
      'x.y': { z: 'escaped' },
      'dotted.key': 'dotted',
      // Nested under keys a slash path reaches (claim/org/team), and one that a literal
      // key of the same name (auth0/roles above) must win over.
      org: { team: 'blue', 'dev.ops': 'on-call' },
      auth0: { roles: ['nested-support'] },
      p: { 'q/r': 'dotted-first', q: { r: 'slash' } },
      verified: true,
    },
  }),
  /** One group only. */
  bob: prepareUser({ id: 'u-bob', email: 'bob@example.org', groups: ['admin'], claims: { roles: 'editor' } }),
  /** Two @ in the email: it must not count as an email or a domain at all. */
  mallory: prepareUser({ id: 'u-mallory', email: 'mallory@evil.com@example.com', groups: [] }),
  /** No email, no groups, no claims. */
  bare: prepareUser({ id: 'u-bare' }),
} satisfies Record<string, PreparedUser>

export type UserName = keyof typeof USERS

export function user(name: UserName | undefined): PreparedUser | undefined {
  return name === undefined ? undefined : USERS[name]
}

export { prepareUser, type UserClaims }

export interface Outcome {
  verdict: Verdict
  /** Sorted: the order of reasons carries no meaning. */
  reasons: string[]
  rule: string | undefined
}

export const outcome = (d: Decision): Outcome => ({ verdict: d.verdict, reasons: [...d.reasons].sort(), rule: d.rule?.label })

/** Judges one input with evaluate() and with explain(). */
export function judge(policy: Policy, req: PolicyRequest, who: PreparedUser | undefined): { evaluate: Outcome; explain: Outcome } {
  const input = { request: req, user: who }
  return { evaluate: outcome(policy.evaluate(input)), explain: outcome(policy.explain(input).decision) }
}

export interface Row {
  name: string
  /** YAML text or plain data. */
  policy: unknown
  user?: UserName
  req?: Partial<PolicyRequest>
  verdict: Verdict
  /** Expected reasons, in any order; checked when given. */
  reasons?: readonly string[]
  /** Expected rule label; checked when given (null: no rule). */
  rule?: string | null
  /** Marks a row that shows a known bug. */
  todo?: string
}

/** A `todo` assertion still runs, and a failure shows as `not ok # TODO`. */
const todoExtra = (todo: string | undefined) => (todo ? { todo } : {})

/** One subtest per row: evaluate() and explain() must both give the verdict, reasons
 *  and rule the row expects. A row with `todo` demonstrates a known bug: its assertions
 *  still run, and fail as TODO. */
export function runTable(t: Test, rows: readonly Row[]): void {
  for (const row of rows) {
    const extra = todoExtra(row.todo)
    t.test(`${row.name} [${row.user ?? 'no user'}]`, async (tt) => {
      const policy = compile(row.policy)
      const got = judge(policy, request(row.req), user(row.user))
      for (const kind of ['evaluate', 'explain'] as const) {
        tt.equal(got[kind].verdict, row.verdict, `${kind}() verdict`, extra)
        if (row.reasons) tt.strictSame(got[kind].reasons, [...row.reasons].sort(), `${kind}() reasons`, extra)
        if (row.rule !== undefined) tt.equal(got[kind].rule, row.rule ?? undefined, `${kind}() rule`, extra)
      }
    })
  }
}

/** A policy of one allow rule holding one criterion: `criterion` is its YAML (flow) text. */
export const allowOne = (criterion: string) => `allow: {or: [{${criterion}}]}`
