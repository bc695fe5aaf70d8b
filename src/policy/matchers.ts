// String and list matchers, compiled once into predicates. Several operators in one
// matcher must all hold (as in Pomerium); a bare scalar means `is` for strings and
// `has` for lists.

import { suggest } from '../suggest.js'
import { describe, isPlainObject, isScalar, type IssueList } from './issues.js'

export type StringTest = (value: string) => boolean
export type ListTest = (values: readonly string[]) => boolean

export interface MatcherOptions {
  /** Compare case-insensitively (emails, domains): values are lower-cased here and the
   *  input is expected lower-cased already. */
  fold?: 'lower' | 'upper'
}

const STRING_OPERATORS = ['is', 'is_not', 'not', 'starts_with', 'ends_with', 'contains', 'in', 'not_in'] as const
const LIST_OPERATORS = ['has', 'is', 'exclude'] as const

function scalarText(raw: unknown, path: string, issues: IssueList, fold: MatcherOptions['fold']): string | undefined {
  if (!isScalar(raw)) return issues.add(path, `must be a string, got ${describe(raw)}`)
  const text = String(raw)
  return fold === 'lower' ? text.toLowerCase() : fold === 'upper' ? text.toUpperCase() : text
}

function textList(raw: unknown, path: string, issues: IssueList, fold: MatcherOptions['fold']): Set<string> | undefined {
  if (!Array.isArray(raw)) return issues.add(path, `must be a list of strings, got ${describe(raw)}`)
  const out = new Set<string>()
  let ok = true
  raw.forEach((item, i) => {
    const text = scalarText(item, `${path}[${i}]`, issues, fold)
    if (text === undefined) ok = false
    else out.add(text)
  })
  return ok ? out : undefined
}

function operatorsOf(raw: unknown, path: string, issues: IssueList, known: readonly string[], kind: string): [string, unknown][] | undefined {
  const entries: [string, unknown][] = isPlainObject(raw) ? Object.entries(raw) : [[known[0], raw]]
  if (entries.length === 0) return issues.add(path, `a ${kind} matcher needs at least one operator (${known.join(', ')})`)
  let ok = true
  for (const [op] of entries) {
    if (!known.includes(op)) {
      issues.add(`${path}.${op}`, `unknown ${kind} matcher operator "${op}"${suggest(op, known)}; use one of ${known.join(', ')}`)
      ok = false
    }
  }
  return ok ? entries : undefined
}

function allOf<T>(tests: ((v: T) => boolean)[]): (v: T) => boolean {
  if (tests.length === 1) return tests[0]
  return (v) => {
    for (const test of tests) if (!test(v)) return false
    return true
  }
}

export function compileStringMatcher(raw: unknown, path: string, issues: IssueList, options: MatcherOptions = {}): StringTest | undefined {
  const entries = operatorsOf(raw, path, issues, STRING_OPERATORS, 'string')
  if (!entries) return undefined
  const tests: StringTest[] = []
  let ok = true
  for (const [op, value] of entries) {
    const at = isPlainObject(raw) ? `${path}.${op}` : path
    if (op === 'in' || op === 'not_in') {
      const set = textList(value, at, issues, options.fold)
      if (!set) { ok = false; continue }
      tests.push(op === 'in' ? (v) => set.has(v) : (v) => !set.has(v))
      continue
    }
    const text = scalarText(value, at, issues, options.fold)
    if (text === undefined) { ok = false; continue }
    switch (op) {
      case 'is': tests.push((v) => v === text); break
      case 'is_not': case 'not': tests.push((v) => v !== text); break
      case 'starts_with': tests.push((v) => v.startsWith(text)); break
      case 'ends_with': tests.push((v) => v.endsWith(text)); break
      case 'contains': tests.push((v) => v.includes(text)); break
    }
  }
  return ok ? allOf(tests) : undefined
}

export function compileListMatcher(raw: unknown, path: string, issues: IssueList, options: MatcherOptions = {}): ListTest | undefined {
  const entries = operatorsOf(raw, path, issues, LIST_OPERATORS, 'list')
  if (!entries) return undefined
  const tests: ListTest[] = []
  let ok = true
  for (const [op, value] of entries) {
    const at = isPlainObject(raw) ? `${path}.${op}` : path
    const text = scalarText(value, at, issues, options.fold)
    if (text === undefined) { ok = false; continue }
    switch (op) {
      case 'has': tests.push((values) => values.includes(text)); break
      // `is`: the list is exactly this one value.
      case 'is': tests.push((values) => values.length === 1 && values[0] === text); break
      case 'exclude': tests.push((values) => !values.includes(text)); break
    }
  }
  return ok ? allOf(tests) : undefined
}
