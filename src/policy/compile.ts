// Pomerium Policy Language: parse a policy (plain data, as read from YAML) once into
// rules of compiled criteria, then evaluate inputs against it without allocating more
// than the Decision.

import { suggest } from '../suggest.js'
import { CRITERIA, CRITERIA_BY_NAME, type CriterionDefinition } from './criteria/index.js'
import type { CriterionTest } from './criteria/criterion.js'
import { describe, isPlainObject, IssueList } from './issues.js'
import { REASON_BITS, reasonBit, reasonNames, USER_UNAUTHENTICATED, VALUE_BIT } from './reasons.js'
import type { PolicyInput, PolicyIssue, Verdict } from './types.js'

export type Action = 'allow' | 'deny'
export type Operator = 'and' | 'or' | 'not' | 'nor'
const OPERATORS: readonly Operator[] = ['and', 'or', 'not', 'nor']

export interface CompiledCriterion {
  readonly name: string
  readonly test: CriterionTest
  readonly needsUser: boolean
  readonly okBit: number
  readonly failBit: number
  /** Where it was written (`policy[0].allow.or[1]`) and what (`groups: {"has":"admin"}`). */
  readonly path: string
  readonly source: string
}

export interface Condition {
  readonly operator: Operator
  readonly criteria: readonly CompiledCriterion[]
  readonly path: string
}

export interface Rule {
  readonly action: Action
  readonly conditions: readonly Condition[]
  /** Position in the policy, for reports; legacy route fields get their own label. */
  readonly label: string
}

/** One criterion's outcome, recorded only when a trace is asked for (explain, tests). */
export interface TraceEntry {
  readonly rule: string
  readonly action: Action
  readonly operator: Operator
  readonly criterion: CompiledCriterion
  readonly matched: boolean
  readonly reasons: readonly string[]
}

export class Decision {
  constructor(
    readonly verdict: Verdict,
    private readonly mask: number,
    /** The rule that decided (first matching deny or allow rule), or undefined. */
    readonly rule: Rule | undefined,
  ) {}

  get allow(): boolean {
    return this.verdict === 'allow'
  }

  /** Pomerium-style reasons: "groups-ok", "http-path-unauthorized", "user-unauthenticated"... */
  get reasons(): string[] {
    return reasonNames(this.mask)
  }
}

// ---- parsing ----------------------------------------------------------------------

const criterionBits = new Map<CriterionDefinition, { ok: number; fail: number }>(
  CRITERIA.map((c) => [c, { ok: reasonBit(c.ok), fail: reasonBit(c.fail) }]),
)
const CRITERION_NAMES = CRITERIA.map((c) => c.name)

function parseCriterion(raw: unknown, path: string, issues: IssueList): CompiledCriterion | undefined {
  if (!isPlainObject(raw)) return issues.add(path, `each criterion must be a mapping with one key, such as {email: {is: ann@example.com}}; got ${describe(raw)}`)
  const keys = Object.keys(raw)
  if (keys.length !== 1) {
    return issues.add(path, `each criterion may only contain a single key and value; found ${keys.length === 0 ? 'none' : keys.join(', ')}`)
  }
  const key = keys[0]
  const slash = key.indexOf('/')
  const name = slash === -1 ? key : key.slice(0, slash)
  const subPath = slash === -1 ? undefined : key.slice(slash + 1)
  const definition = CRITERIA_BY_NAME.get(name)
  if (!definition) return issues.add(`${path}.${key}`, `unknown policy criterion "${name}"${suggest(name, CRITERION_NAMES)}`)
  if (subPath !== undefined && !definition.takesSubPath) return issues.add(`${path}.${key}`, `${name} takes no sub-path after /`)
  const value = raw[key]
  const test = definition.compile(value, { issues, path: `${path}.${key}`, subPath })
  if (!test) return undefined
  const bits = criterionBits.get(definition)!
  return {
    name: key,
    test,
    needsUser: definition.needsUser,
    okBit: bits.ok,
    failBit: bits.fail,
    path,
    source: `${key}: ${JSON.stringify(value)}`,
  }
}

function parseConditions(body: Record<string, unknown>, path: string, issues: IssueList, allowAction: boolean): Condition[] | undefined {
  const conditions: Condition[] = []
  let ok = true
  for (const [key, value] of Object.entries(body)) {
    if (allowAction && key === 'action') continue
    if (!(OPERATORS as readonly string[]).includes(key)) {
      issues.add(`${path}.${key}`, `unsupported conditional "${key}"${suggest(key, OPERATORS)}: only and, or, not, nor and action are allowed`)
      ok = false
      continue
    }
    if (!Array.isArray(value)) {
      issues.add(`${path}.${key}`, `must be a list of criteria, got ${describe(value)}`)
      ok = false
      continue
    }
    const criteria: CompiledCriterion[] = []
    value.forEach((item, i) => {
      const criterion = parseCriterion(item, `${path}.${key}[${i}]`, issues)
      if (criterion) criteria.push(criterion)
      else ok = false
    })
    // An empty list adds nothing, as in Pomerium: it neither allows nor denies.
    if (criteria.length > 0) conditions.push({ operator: key as Operator, criteria, path: `${path}.${key}` })
  }
  return ok ? conditions : undefined
}

function parseRule(raw: unknown, path: string, issues: IssueList): Rule[] | undefined {
  if (!isPlainObject(raw)) return issues.add(path, `a rule must be a mapping with allow and/or deny, got ${describe(raw)}`)
  // The flat form: {action: allow, or: [...]}.
  if ('action' in raw) {
    const action = raw.action
    if (action !== 'allow' && action !== 'deny') return issues.add(`${path}.action`, `must be allow or deny, got ${describe(action)}`)
    const conditions = parseConditions(raw, path, issues, true)
    return conditions && [{ action, conditions, label: path }]
  }
  const rules: Rule[] = []
  let ok = true
  for (const [key, body] of Object.entries(raw)) {
    if (key !== 'allow' && key !== 'deny') {
      const hint = (OPERATORS as readonly string[]).includes(key) ? ` (put ${key} under allow: or deny:)` : suggest(key, ['allow', 'deny'])
      issues.add(`${path}.${key}`, `unknown rule key "${key}"${hint}; a rule has allow and/or deny`)
      ok = false
      continue
    }
    if (!isPlainObject(body)) {
      issues.add(`${path}.${key}`, `must be a mapping of and, or, not, nor to lists of criteria, got ${describe(body)}`)
      ok = false
      continue
    }
    const conditions = parseConditions(body, `${path}.${key}`, issues, false)
    if (conditions) rules.push({ action: key, conditions, label: path })
    else ok = false
  }
  if (Object.keys(raw).length === 0) return issues.add(path, 'an empty rule; write allow: or deny:')
  return ok ? rules : undefined
}

/** Parses a policy: one rule or a list of rules. `path` prefixes every message. */
export function parsePolicy(raw: unknown, path = 'policy'): { rules: Rule[] } | { issues: PolicyIssue[] } {
  const issues = new IssueList()
  const rules: Rule[] = []
  if (raw !== undefined && raw !== null) {
    const list = Array.isArray(raw) ? raw : [raw]
    list.forEach((item, i) => {
      const parsed = parseRule(item, Array.isArray(raw) ? `${path}[${i}]` : path, issues)
      if (parsed) rules.push(...parsed)
    })
  }
  return issues.items.length > 0 ? { issues: issues.items } : { rules }
}

// ---- evaluation -------------------------------------------------------------------

/** Encodes one result as a number: sign bit = matched, low bits = reason mask. */
function runCriterion(c: CompiledCriterion, input: PolicyInput, trace: Trace | undefined): number {
  let result: number
  if (c.needsUser && input.user === undefined) result = USER_UNAUTHENTICATED
  else result = c.test(input) ? c.okBit | VALUE_BIT : c.failBit
  trace?.record(c, result)
  return result
}

class Trace {
  readonly entries: TraceEntry[] = []
  rule: Rule | undefined
  condition: Condition | undefined
  record(criterion: CompiledCriterion, result: number): void {
    this.entries.push({
      rule: this.rule!.label,
      action: this.rule!.action,
      operator: this.condition!.operator,
      criterion,
      matched: result < 0,
      reasons: reasonNames(result & REASON_BITS),
    })
  }
}

/**
 * Merging follows Pomerium: `or` (and `nor`, over inverted results) is true when any
 * result is, carrying the reasons of the true ones, else the reasons of all; `and` (and
 * `not`) is true when all are, else it carries the reasons of the false ones. Loops stop
 * early only where the rest could not change the verdict, which depends on whether a
 * user-unauthenticated reason can still appear: never in the reasons of a matching
 * criterion, and never at all when a user is present. With a trace, nothing stops early.
 */
function runCondition(condition: Condition, input: PolicyInput, full: boolean, trace: Trace | undefined): number {
  const { criteria } = condition
  let trueMask = 0
  let falseMask = 0
  let anyTrue = false
  let anyFalse = false
  switch (condition.operator) {
    case 'and':
      for (const c of criteria) {
        const r = runCriterion(c, input, trace)
        if (r < 0) trueMask |= r & REASON_BITS
        else {
          falseMask |= r
          anyFalse = true
          if (!full) break
        }
      }
      return anyFalse ? falseMask : trueMask | VALUE_BIT
    case 'or':
      for (const c of criteria) {
        const r = runCriterion(c, input, trace)
        if (r < 0) {
          trueMask |= r & REASON_BITS
          anyTrue = true
          if (!trace) break
        } else falseMask |= r
      }
      return anyTrue ? trueMask | VALUE_BIT : falseMask
    case 'not':
      // True when no criterion matches; false with the reasons of those that did.
      for (const c of criteria) {
        const r = runCriterion(c, input, trace)
        if (r < 0) {
          trueMask |= r & REASON_BITS
          anyTrue = true
          if (!trace) break
        } else falseMask |= r
      }
      return anyTrue ? trueMask : falseMask | VALUE_BIT
    case 'nor':
      // True when some criterion does not match (Pomerium's nor), with the reasons of
      // all that did not.
      for (const c of criteria) {
        const r = runCriterion(c, input, trace)
        if (r < 0) trueMask |= r & REASON_BITS
        else {
          falseMask |= r
          anyFalse = true
          if (!full) break
        }
      }
      return anyFalse ? falseMask | VALUE_BIT : trueMask
  }
}

interface Outcome { matched: boolean; mask: number; rule: Rule | undefined }

function runRules(rules: readonly Rule[], input: PolicyInput, full: boolean, trace: Trace | undefined): Outcome {
  let trueMask = 0
  let falseMask = 0
  let first: Rule | undefined
  for (const rule of rules) {
    if (trace) trace.rule = rule
    for (const condition of rule.conditions) {
      if (trace) trace.condition = condition
      const r = runCondition(condition, input, full, trace)
      if (r < 0) {
        trueMask |= r & REASON_BITS
        first ??= rule
        if (!full) return { matched: true, mask: trueMask, rule: first }
      } else falseMask |= r
    }
  }
  return first ? { matched: true, mask: trueMask, rule: first } : { matched: false, mask: falseMask, rule: undefined }
}

export interface Explanation {
  decision: Decision
  trace: readonly TraceEntry[]
}

export class Policy {
  private readonly allowRules: readonly Rule[]
  private readonly denyRules: readonly Rule[]

  constructor(readonly rules: readonly Rule[]) {
    this.allowRules = rules.filter((r) => r.action === 'allow')
    this.denyRules = rules.filter((r) => r.action === 'deny')
  }

  evaluate(input: PolicyInput): Decision {
    return this.run(input, undefined)
  }

  /** The same evaluation, recording every criterion's outcome. */
  explain(input: PolicyInput): Explanation {
    const trace = new Trace()
    return { decision: this.run(input, trace), trace: trace.entries }
  }

  /**
   * Pomerium's order: (1) a user-unauthenticated reason on either side asks for a
   * sign-in; (2) a matching deny rule denies; (3) a matching allow rule allows; (4)
   * anything else, an empty policy included, denies.
   */
  private run(input: PolicyInput, trace: Trace | undefined): Decision {
    // Without a user every criterion must be seen (any may need a sign-in); with one,
    // the first matching rule settles its side.
    const full = trace !== undefined || input.user === undefined
    const deny = runRules(this.denyRules, input, full, trace)
    if (deny.matched && !full) return new Decision('deny', deny.mask, deny.rule)
    const allow = runRules(this.allowRules, input, full, trace)
    if ((allow.mask | deny.mask) & USER_UNAUTHENTICATED) return new Decision('sign_in', USER_UNAUTHENTICATED, undefined)
    if (deny.matched) return new Decision('deny', deny.mask, deny.rule)
    if (allow.matched) return new Decision('allow', allow.mask, allow.rule)
    return new Decision('deny', allow.mask, undefined)
  }
}
