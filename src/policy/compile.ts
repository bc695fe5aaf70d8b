// Pomerium Policy Language: parse a policy (plain data, as read from YAML) once into
// rules of compiled criteria, then generate one evaluator function for it, which
// allocates nothing but the Decision it returns.

import { suggest } from '../suggest.js'
import { CRITERIA, CRITERIA_BY_NAME, type CriterionDefinition } from './criteria/index.js'
import type { Emit } from './criteria/criterion.js'
import { describe, isPlainObject, IssueList } from './issues.js'
import { REASON_BITS, reasonBit, reasonNames, USER_UNAUTHENTICATED, VALUE_BIT } from './reasons.js'
import type { Constant } from './matchers.js'
import type { PolicyInput, PolicyIssue, Verdict } from './types.js'

export type Action = 'allow' | 'deny'
export type Operator = 'and' | 'or' | 'not' | 'nor'
const OPERATORS: readonly Operator[] = ['and', 'or', 'not', 'nor']

export interface CompiledCriterion {
  readonly name: string
  /** Emits the criterion's test for the generated evaluator. */
  readonly emit: Emit
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

const criterionBits = new Map<CriterionDefinition, { ok: number; fail: number }>(CRITERIA.map((c) => [c, { ok: reasonBit(c.ok), fail: reasonBit(c.fail) }]))
const CRITERION_NAMES = CRITERIA.map((c) => c.name)

function parseCriterion(raw: unknown, path: string, issues: IssueList): CompiledCriterion | undefined {
  if (!isPlainObject(raw))
    return issues.add(path, `each criterion must be a mapping with one key, such as {email: {is: ann@example.com}}; got ${describe(raw)}`)
  const keys = Object.keys(raw)
  if (keys.length !== 1) {
    return issues.add(path, `each criterion may only contain a single key and value; found ${keys.length === 0 ? 'none' : keys.join(', ')}`)
  }
  const key = keys[0]
  const slash = key.indexOf('/')
  const name = slash === -1 ? key : key.slice(0, slash)
  const subPath = slash === -1 ? undefined : key.slice(slash + 1)
  const definition = CRITERIA_BY_NAME.get(name)
  if (!definition) return issues.addAtKey(`${path}.${key}`, `unknown policy criterion "${name}"${suggest(name, CRITERION_NAMES)}`)
  if (subPath !== undefined && !definition.takesSubPath) return issues.addAtKey(`${path}.${key}`, `${name} takes no sub-path after /`)
  const value = raw[key]
  const emit = definition.compile(value, { issues, path: `${path}.${key}`, subPath })
  if (!emit) return undefined
  const bits = criterionBits.get(definition)!
  return {
    name: key,
    emit,
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
      issues.addAtKey(`${path}.${key}`, `unsupported conditional "${key}"${suggest(key, OPERATORS)}: only and, or, not, nor and action are allowed`)
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
      issues.addAtKey(`${path}.${key}`, `unknown rule key "${key}"${hint}; a rule has allow and/or deny`)
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

/** `{}`, `[]` or nothing: Pomerium reads each as a policy without rules. */
function isEmptyPolicy(raw: unknown): boolean {
  return raw === undefined || raw === null || (Array.isArray(raw) ? raw.length === 0 : isPlainObject(raw) && Object.keys(raw).length === 0)
}

/**
 * Parses a policy: one rule or a list of rules. `path` prefixes every message. An empty
 * policy loads, as in Pomerium, and denies every request; that is seldom what was
 * meant (an empty mapping reads like "no restrictions"), so it comes with a warning.
 */
export function parsePolicy(raw: unknown, path = 'policy'): { rules: Rule[]; warnings: PolicyIssue[] } | { issues: PolicyIssue[] } {
  if (isEmptyPolicy(raw)) {
    return {
      rules: [],
      warnings: [{ path, message: "an empty policy denies every request (only the route's allow_* and allowed_* fields, if any, let anyone in)" }],
    }
  }
  const issues = new IssueList()
  const rules: Rule[] = []
  const list = Array.isArray(raw) ? raw : [raw]
  list.forEach((item, i) => {
    const parsed = parseRule(item, Array.isArray(raw) ? `${path}[${i}]` : path, issues)
    if (parsed) rules.push(...parsed)
  })
  return issues.items.length > 0 ? { issues: issues.items } : { rules, warnings: [] }
}

// ---- evaluation -------------------------------------------------------------------

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

type Evaluator = (input: PolicyInput, trace: Trace | undefined) => Decision

/**
 * Generates the evaluator's source. Results are numbers: the sign bit says "matched",
 * the low bits hold the reason mask, so merging reasons is a bitwise OR.
 *
 * Merging follows Pomerium: `or` (and `nor`, over inverted results) is true when any
 * result is, carrying the reasons of the true ones, else the reasons of all; `and` (and
 * `not`) is true when all are, else it carries the reasons of the false ones. Evaluation
 * stops early only where the rest could not change the verdict, which depends on
 * whether a user-unauthenticated reason can still appear: never in the reasons of a
 * matching criterion, and never at all when a user is present (`full` is false then).
 * With a trace, nothing stops early.
 *
 * Only fixed templates become source text; every value from the policy is passed in
 * through the constants array K.
 */
function generate(allow: readonly Step[], deny: readonly Step[], k: Constant): string {
  let label = 0
  const criterionCode = (c: CompiledCriterion): string => {
    const test = `(${c.emit(k)}) ? ${c.okResult} : ${c.failBit}`
    const value = c.needsUser ? `user === undefined ? ${USER_UNAUTHENTICATED} : ${test}` : test
    return `r = ${value};\nif (trace !== undefined) trace.record(${k(c)}, r);\n`
  }
  const conditionCode = (condition: Condition): string => {
    const l = `c${label++}`
    // Which outcome lets the loop stop, and when.
    const stopOnTrue = condition.operator === 'or' || condition.operator === 'not'
    const stop = stopOnTrue ? 'trace === undefined' : '!full'
    let body = ''
    for (const c of condition.criteria) {
      body += criterionCode(c)
      body += stopOnTrue
        ? `if (r < 0) { tm |= r & ${REASON_BITS}; at = true; if (${stop}) break ${l}; } else fm |= r;\n`
        : `if (r < 0) tm |= r & ${REASON_BITS}; else { fm |= r; af = true; if (${stop}) break ${l}; }\n`
    }
    const result = {
      and: `af ? fm : tm | ${VALUE_BIT}`,
      or: `at ? tm | ${VALUE_BIT} : fm`,
      not: `at ? tm : fm | ${VALUE_BIT}`,
      nor: `af ? fm | ${VALUE_BIT} : tm`,
    }[condition.operator]
    return `tm = 0; fm = 0; at = false; af = false;\n${l}: {\n${body}}\nc = ${result};\n`
  }
  const side = (steps: readonly Step[], name: string): string => {
    let code = `let ${name}T = 0, ${name}F = 0, ${name}Rule;\n${name}: {\n`
    for (const step of steps) {
      code += `if (trace !== undefined) { trace.rule = ${k(step.rule)}; trace.condition = ${k(step.condition)}; }\n`
      code += conditionCode(step.condition)
      code += `if (c < 0) { ${name}T |= c & ${REASON_BITS}; if (${name}Rule === undefined) ${name}Rule = ${k(step.rule)}; if (!full) break ${name}; } else ${name}F |= c;\n`
    }
    return code + '}\n'
  }
  return `return function evaluate(input, trace) {
const req = input.request, user = input.user;
// Without a user every criterion must be seen (any may need a sign-in).
const full = trace !== undefined || user === undefined;
let r = 0, c = 0, tm = 0, fm = 0, at = false, af = false, cv;
${side(deny, 'deny')}if (denyRule !== undefined && !full) return decide('deny', denyT, denyRule);
${side(allow, 'allow')}const allowMask = allowRule !== undefined ? allowT : allowF;
const denyMask = denyRule !== undefined ? denyT : denyF;
if ((allowMask | denyMask) & ${USER_UNAUTHENTICATED}) return decide('sign_in', ${USER_UNAUTHENTICATED}, undefined);
if (denyRule !== undefined) return decide('deny', denyT, denyRule);
if (allowRule !== undefined) return decide('allow', allowT, allowRule);
return decide('deny', allowF, undefined);
}`
}

interface Step {
  readonly rule: Rule
  readonly condition: Condition
}

function stepsFor(rules: readonly Rule[], action: Action): Step[] {
  return rules.filter((r) => r.action === action).flatMap((rule) => rule.conditions.map((condition) => ({ rule, condition })))
}

const decide = (verdict: Verdict, mask: number, rule: Rule | undefined) => new Decision(verdict, mask, rule)

type EvaluatorFactory = (constants: readonly unknown[], decideFn: typeof decide) => Evaluator

/** Policies of the same shape generate the same source (their values live in K), and
 *  thousands of routes have only a handful of shapes: compiling each source once keeps
 *  start-up and memory from growing with the route count. Bounded, as reloads may bring
 *  new shapes for as long as the process runs. */
const factories = new Map<string, EvaluatorFactory>()
const MAX_FACTORIES = 1000

function evaluatorFactory(source: string): EvaluatorFactory {
  let factory = factories.get(source)
  if (!factory) {
    if (factories.size >= MAX_FACTORIES) factories.clear()
    factory = new Function('K', 'decide', source) as EvaluatorFactory
    factories.set(source, factory)
  }
  return factory
}

export interface Explanation {
  decision: Decision
  trace: readonly TraceEntry[]
}

/**
 * Pomerium's order: (1) a user-unauthenticated reason on either side asks for a
 * sign-in; (2) a matching deny rule denies; (3) a matching allow rule allows; (4)
 * anything else, an empty policy included, denies.
 */
export class Policy {
  /** Generated at the first request the policy judges: a configuration of thousands of
   *  routes starts (and `check` finishes) without compiling what may never run. The
   *  rules are parsed and checked already, so this cannot fail. */
  private compiled: Evaluator | undefined

  constructor(readonly rules: readonly Rule[]) {}

  private get run(): Evaluator {
    if (this.compiled) return this.compiled
    const constants: unknown[] = []
    const k: Constant = (value) => `K[${constants.push(value) - 1}]`
    const source = generate(stepsFor(this.rules, 'allow'), stepsFor(this.rules, 'deny'), k)
    return (this.compiled = evaluatorFactory(source)(constants, decide))
  }

  evaluate(input: PolicyInput): Decision {
    return this.run(input, undefined)
  }

  /** The same evaluation, recording every criterion's outcome. */
  explain(input: PolicyInput): Explanation {
    const trace = new Trace()
    return { decision: this.run(input, trace), trace: trace.entries }
  }
}
