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
  /** okBit with the matched (sign) bit set: the criterion's result when it matches. */
  readonly okResult: number
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
    okResult: bits.ok | VALUE_BIT,
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
  const result = c.needsUser && input.user === undefined ? USER_UNAUTHENTICATED : c.test(input) ? c.okResult : c.failBit
  if (trace !== undefined) trace.record(c, result)
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

/** Runs one condition; `full` forbids stopping early (see runnerFor). */
type ConditionRunner = (input: PolicyInput, full: boolean, trace: Trace | undefined) => number

/**
 * Merging follows Pomerium: `or` (and `nor`, over inverted results) is true when any
 * result is, carrying the reasons of the true ones, else the reasons of all; `and` (and
 * `not`) is true when all are, else it carries the reasons of the false ones. Loops stop
 * early only where the rest could not change the verdict, which depends on whether a
 * user-unauthenticated reason can still appear: never in the reasons of a matching
 * criterion, and never at all when a user is present. With a trace, nothing stops early.
 * Each operator gets its own small function so the hot loop has no dispatch in it.
 */
function runnerFor(condition: Condition): ConditionRunner {
  const criteria = condition.criteria
  const n = criteria.length
  switch (condition.operator) {
    case 'and':
      return (input, full, trace) => {
        let trueMask = 0
        let falseMask = 0
        let anyFalse = false
        for (let i = 0; i < n; i++) {
          const r = runCriterion(criteria[i], input, trace)
          if (r < 0) trueMask |= r & REASON_BITS
          else {
            falseMask |= r
            anyFalse = true
            if (!full) break
          }
        }
        return anyFalse ? falseMask : trueMask | VALUE_BIT
      }
    case 'or':
      return (input, _full, trace) => {
        let falseMask = 0
        for (let i = 0; i < n; i++) {
          const r = runCriterion(criteria[i], input, trace)
          if (r < 0) return trace === undefined ? r : orTraced(criteria, i, r, input, trace)
          falseMask |= r
        }
        return falseMask
      }
    case 'not':
      // True when no criterion matches; false with the reasons of one that did.
      return (input, _full, trace) => {
        let falseMask = 0
        for (let i = 0; i < n; i++) {
          const r = runCriterion(criteria[i], input, trace)
          if (r < 0) {
            if (trace !== undefined) for (let j = i + 1; j < n; j++) runCriterion(criteria[j], input, trace)
            return r & REASON_BITS
          }
          falseMask |= r
        }
        return falseMask | VALUE_BIT
      }
    case 'nor':
      // True when some criterion does not match (Pomerium's nor), with the reasons of
      // those that did not.
      return (input, full, trace) => {
        let trueMask = 0
        let falseMask = 0
        let anyFalse = false
        for (let i = 0; i < n; i++) {
          const r = runCriterion(criteria[i], input, trace)
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
}

/** With a trace, an `or` records the criteria after the first match too. */
function orTraced(criteria: readonly CompiledCriterion[], from: number, first: number, input: PolicyInput, trace: Trace): number {
  let mask = first & REASON_BITS
  for (let j = from + 1; j < criteria.length; j++) {
    const r = runCriterion(criteria[j], input, trace)
    if (r < 0) mask |= r & REASON_BITS
  }
  return mask | VALUE_BIT
}

interface Step { readonly rule: Rule; readonly condition: Condition; readonly run: ConditionRunner }
interface Outcome { matched: boolean; mask: number; rule: Rule | undefined }

function runSteps(steps: readonly Step[], input: PolicyInput, full: boolean, trace: Trace | undefined): Outcome {
  let trueMask = 0
  let falseMask = 0
  let first: Rule | undefined
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]
    if (trace !== undefined) {
      trace.rule = step.rule
      trace.condition = step.condition
    }
    const r = step.run(input, full, trace)
    if (r < 0) {
      trueMask |= r & REASON_BITS
      first ??= step.rule
      if (!full) break
    } else falseMask |= r
  }
  return first ? { matched: true, mask: trueMask, rule: first } : { matched: false, mask: falseMask, rule: undefined }
}

export interface Explanation {
  decision: Decision
  trace: readonly TraceEntry[]
}

/** A policy's conditions, flattened per action, each with its compiled runner. */
function stepsFor(rules: readonly Rule[], action: Action): Step[] {
  return rules.filter((r) => r.action === action).flatMap((rule) => rule.conditions.map((condition) => ({ rule, condition, run: runnerFor(condition) })))
}

export class Policy {
  private readonly allowSteps: readonly Step[]
  private readonly denySteps: readonly Step[]

  constructor(readonly rules: readonly Rule[]) {
    this.allowSteps = stepsFor(rules, 'allow')
    this.denySteps = stepsFor(rules, 'deny')
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
    const deny = runSteps(this.denySteps, input, full, trace)
    if (deny.matched && !full) return new Decision('deny', deny.mask, deny.rule)
    const allow = runSteps(this.allowSteps, input, full, trace)
    if ((allow.mask | deny.mask) & USER_UNAUTHENTICATED) return new Decision('sign_in', USER_UNAUTHENTICATED, undefined)
    if (deny.matched) return new Decision('deny', deny.mask, deny.rule)
    if (allow.matched) return new Decision('allow', allow.mask, allow.rule)
    return new Decision('deny', allow.mask, undefined)
  }
}
