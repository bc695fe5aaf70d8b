// String and list matchers. Several operators in one matcher must all hold (as in
// Pomerium); a bare scalar means `is` for strings and `has` for lists. A matcher is
// emitted as a JavaScript expression over a subject expression; its values only ever
// appear as references to constants, never as source text.

import { suggest } from '../suggest.js'
import { describe, isPlainObject, isScalar, type IssueList } from './issues.js'

/** Registers a constant for generated code and returns the expression that reads it. */
export type Constant = (value: unknown) => string

/** Emits a boolean expression testing `subject` (an expression of the generated code). */
export type Matcher = (subject: string, k: Constant) => string

export interface MatcherOptions {
  /** Compare case-insensitively (emails, domains, methods): values are folded here and
   *  the subject must be folded the same way already. */
  fold?: 'lower' | 'upper'
  /** Take numbers and booleans too, compared as text: claims hold them (`claim/age: 30`,
   *  `claim/email_verified: true`), and the subject is the claim's values as text. */
  anyScalar?: boolean
}

const STRING_OPERATORS = ['is', 'is_not', 'not', 'starts_with', 'ends_with', 'contains', 'in', 'not_in'] as const
const LIST_OPERATORS = ['has', 'is', 'exclude'] as const

/**
 * A value to compare with. Everything but a claim is text, yet YAML reads `1234` or
 * `true` as a number or a boolean. Pomerium compares by type, so there such a value
 * never matches (a deny rule fails open); read as text it would match here. The two
 * must not disagree and neither is surely what was meant, so it is refused, with the fix.
 */
function scalarText(raw: unknown, path: string, issues: IssueList, options: MatcherOptions): string | undefined {
  if (!isScalar(raw)) return issues.add(path, `must be a string, got ${describe(raw)}`)
  if (typeof raw !== 'string' && !options.anyScalar) return issues.add(path, `must be a string, got ${describe(raw)}; quote it: "${String(raw)}"`)
  const text = String(raw)
  return options.fold === 'lower' ? text.toLowerCase() : options.fold === 'upper' ? text.toUpperCase() : text
}

function textSet(raw: unknown, path: string, issues: IssueList, options: MatcherOptions): Set<string> | undefined {
  if (!Array.isArray(raw)) return issues.add(path, `must be a list of strings, got ${describe(raw)}`)
  const out = new Set<string>()
  let ok = true
  raw.forEach((item, i) => {
    const text = scalarText(item, `${path}[${i}]`, issues, options)
    if (text === undefined) ok = false
    else out.add(text)
  })
  return ok ? out : undefined
}

function operatorsOf(raw: unknown, path: string, issues: IssueList, known: readonly string[], kind: string): [string, unknown, string][] | undefined {
  const entries: [string, unknown, string][] = isPlainObject(raw)
    ? Object.entries(raw).map(([op, value]) => [op, value, `${path}.${op}`])
    : [[known[0], raw, path]]
  if (entries.length === 0) return issues.add(path, `a ${kind} matcher needs at least one operator (${known.join(', ')})`)
  let ok = true
  for (const [op, , at] of entries) {
    if (!known.includes(op)) {
      issues.addAtKey(at, `unknown ${kind} matcher operator "${op}"${suggest(op, known)}; use one of ${known.join(', ')}`)
      ok = false
    }
  }
  return ok ? entries : undefined
}

/** Short prefixes and suffixes are compared character by character, last character
 *  first (paths share their leading `/`), which is several times faster than
 *  String.prototype.startsWith. Character codes are numbers computed here. */
function affix(text: string, side: 'start' | 'end'): Matcher {
  if (text.length === 0) return () => 'true'
  if (text.length > 16) return (s, k) => `${s}.${side === 'start' ? 'startsWith' : 'endsWith'}(${k(text)})`
  return (s) => {
    const checks = [`${s}.length >= ${text.length}`]
    for (let i = text.length - 1; i >= 0; i--) {
      const at = side === 'start' ? `${i}` : `${s}.length - ${text.length - i}`
      checks.push(`${s}.charCodeAt(${at}) === ${text.charCodeAt(i)}`)
    }
    return checks.join(' && ')
  }
}

const allOf =
  (parts: Matcher[]): Matcher =>
  (subject, k) =>
    parts.map((emit) => `(${emit(subject, k)})`).join(' && ')

export function compileStringMatcher(raw: unknown, path: string, issues: IssueList, options: MatcherOptions = {}): Matcher | undefined {
  const entries = operatorsOf(raw, path, issues, STRING_OPERATORS, 'string')
  if (!entries) return undefined
  const parts: Matcher[] = []
  let ok = true
  for (const [op, value, at] of entries) {
    if (op === 'in' || op === 'not_in') {
      const set = textSet(value, at, issues, options)
      if (!set) ok = false
      else parts.push(op === 'in' ? (s, k) => `${k(set)}.has(${s})` : (s, k) => `!${k(set)}.has(${s})`)
      continue
    }
    const text = scalarText(value, at, issues, options)
    if (text === undefined) {
      ok = false
      continue
    }
    switch (op) {
      case 'is':
        parts.push((s, k) => `${s} === ${k(text)}`)
        break
      case 'is_not':
      case 'not':
        parts.push((s, k) => `${s} !== ${k(text)}`)
        break
      case 'starts_with':
        parts.push(affix(text, 'start'))
        break
      case 'ends_with':
        parts.push(affix(text, 'end'))
        break
      case 'contains':
        parts.push((s, k) => `${s}.includes(${k(text)})`)
        break
    }
  }
  return ok ? allOf(parts) : undefined
}

export function compileListMatcher(raw: unknown, path: string, issues: IssueList, options: MatcherOptions = {}): Matcher | undefined {
  const entries = operatorsOf(raw, path, issues, LIST_OPERATORS, 'list')
  if (!entries) return undefined
  const parts: Matcher[] = []
  let ok = true
  for (const [op, value, at] of entries) {
    const text = scalarText(value, at, issues, options)
    if (text === undefined) {
      ok = false
      continue
    }
    switch (op) {
      case 'has':
        parts.push((s, k) => `${s}.includes(${k(text)})`)
        break
      // `is`: the list is exactly this one value.
      case 'is':
        parts.push((s, k) => `${s}.length === 1 && ${s}[0] === ${k(text)}`)
        break
      case 'exclude':
        parts.push((s, k) => `!${s}.includes(${k(text)})`)
        break
    }
  }
  return ok ? allOf(parts) : undefined
}
