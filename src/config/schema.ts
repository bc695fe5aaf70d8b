// A small schema language that reads YAML nodes (not plain JS values), so that every
// problem it finds can name the file, line, column and key path of the node at fault.

import { isAlias, isMap, isScalar, isSeq, type LinePositions, type YamlNode } from './yaml-tree.js'
import type { ConfigIssue } from '../errors.js'
import { parseDuration } from './duration.js'
import { suggest } from '../suggest.js'
import type { Location } from '../types.js'

/** Aliases are legal YAML, but each one re-reads a subtree: a bounded count stops
 *  "billion laughs" documents from expanding into gigabytes. */
export const MAX_ALIASES_PER_FILE = 64

export interface ReadContext {
  /** File name as shown to the operator (relative to the working directory). */
  readonly file: string
  readonly lines: LinePositions
  readonly env: Readonly<Record<string, string | undefined>>
  readonly issues: ConfigIssue[]
  /** Filled, when given, with things that load but are probably not what was meant
   *  (an empty policy); each located like an issue. */
  readonly warnings?: ConfigIssue[]
  aliasesSeen: number
  /** Filled with where each key path's value was written, for checks made after
   *  reading (compile.ts) to still name the line and column. */
  readonly positions?: Map<string, { line: number; col: number }>
}

export interface Reader<T> {
  /** Returns undefined after recording an issue when the node does not fit. */
  read(node: unknown, ctx: ReadContext, path: string): T | undefined
  /** Short description of what is expected, used in messages. */
  readonly expects: string
}

export function position(ctx: ReadContext, node: unknown): { line: number; col: number } {
  const start = (node as YamlNode | null | undefined)?.start
  if (start === undefined) return { line: 1, col: 1 }
  return ctx.lines.linePos(start)
}

export function report(ctx: ReadContext, node: unknown, path: string, message: string): undefined {
  ctx.issues.push({ file: ctx.file, ...position(ctx, node), path, message })
  return undefined
}

/** Follows an alias to its anchor, counting it against the per-file bound. */
export function deref(node: unknown, ctx: ReadContext, path: string): unknown {
  if (!isAlias(node)) return node
  ctx.aliasesSeen++
  if (ctx.aliasesSeen > MAX_ALIASES_PER_FILE) {
    if (ctx.aliasesSeen === MAX_ALIASES_PER_FILE + 1) {
      report(ctx, node, path, `more than ${MAX_ALIASES_PER_FILE} alias references in one file; refusing to expand further`)
    }
    return undefined
  }
  // The yaml parser leaves an alias without an anchor for the reader to find.
  return node.target ?? report(ctx, node, path, `alias *${node.source} has no anchor &${node.source} before it`)
}

function describeNode(node: unknown): string {
  if (node == null) return 'nothing'
  if (isMap(node)) return 'a mapping'
  if (isSeq(node)) return 'a list'
  if (isScalar(node)) {
    const v = node.value
    if (v === null) return 'nothing (null)'
    if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v)}`
    return `${typeof v} ${String(v)}`
  }
  return 'an unsupported YAML node'
}

function mismatch(ctx: ReadContext, node: unknown, path: string, expects: string): undefined {
  return report(ctx, node, path, `must be ${expects}, got ${describeNode(node)}`)
}

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** `${NAME}` and `${NAME:-default}` take values from the environment; `$$` is a literal `$`.
 *  An unset variable without a default is an error rather than an empty string, because a
 *  silently empty secret or address is worse than refusing to start. */
function substituteEnv(text: string, ctx: ReadContext, node: unknown, path: string): string | undefined {
  if (!text.includes('$')) return text
  let missing: string | undefined
  const out = text.replace(ENV_REF, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$$') return '$'
    const value = ctx.env[name!]
    if (value !== undefined && value !== '') return value
    if (fallback !== undefined) return fallback
    missing ??= name
    return ''
  })
  if (missing !== undefined) return report(ctx, node, path, `environment variable ${missing} is not set`)
  return out
}

/** Reads a scalar as text after environment substitution; other node kinds are errors. */
function scalarText(node: unknown, ctx: ReadContext, path: string, expects: string): string | undefined {
  if (!isScalar(node) || typeof node.value !== 'string') return mismatch(ctx, node, path, expects)
  return substituteEnv(node.value, ctx, node, path)
}

export interface StringOptions {
  /** Returns an error message, or undefined when the value is acceptable. */
  check?: (value: string) => string | undefined
  oneOf?: readonly string[]
  expects?: string
}

export function str(options: StringOptions = {}): Reader<string> {
  const expects = options.expects ?? (options.oneOf ? `one of ${options.oneOf.join(', ')}` : 'a string')
  return {
    expects,
    read(node, ctx, path) {
      const text = scalarText(node, ctx, path, expects)
      if (text === undefined) return undefined
      if (options.oneOf && !options.oneOf.includes(text)) {
        const hint = suggest(text, options.oneOf)
        return report(ctx, node, path, `must be one of ${options.oneOf.join(', ')}, got ${JSON.stringify(text)}${hint}`)
      }
      const problem = options.check?.(text)
      if (problem) return report(ctx, node, path, problem)
      return text
    },
  }
}

export function bool(): Reader<boolean> {
  const expects = 'true or false'
  return {
    expects,
    read(node, ctx, path) {
      if (isScalar(node) && typeof node.value === 'boolean') return node.value
      // `${VAR}` may stand for a boolean; anything else (YAML 1.1's yes/no/on/off
      // included) is refused rather than guessed at.
      if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
        const text = substituteEnv(node.value, ctx, node, path)
        if (text === 'true') return true
        if (text === 'false') return false
        if (text === undefined) return undefined
      }
      if (isScalar(node) && typeof node.value === 'string' && /^(y|yes|n|no|on|off)$/i.test(node.value)) {
        return report(ctx, node, path, `must be true or false; ${JSON.stringify(node.value)} is a string in YAML 1.2 (write true or false)`)
      }
      return mismatch(ctx, node, path, expects)
    },
  }
}

export function int(options: { min?: number; max?: number; expects?: string } = {}): Reader<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options
  const expects = options.expects ?? `a whole number from ${min} to ${max}`
  return {
    expects,
    read(node, ctx, path) {
      let value: unknown = isScalar(node) ? node.value : undefined
      if (typeof value === 'string' && value.includes('${')) {
        const text = substituteEnv(value, ctx, node, path)
        if (text === undefined) return undefined
        value = /^-?\d+$/.test(text) ? Number(text) : text
      }
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        return mismatch(ctx, node, path, expects)
      }
      return value
    },
  }
}

/** Durations are Go-style strings ("30s", "1m30s", "250ms") or 0 for "off"; milliseconds out. */
export function duration(options: { max?: number } = {}): Reader<number> {
  const expects = 'a duration such as 30s, 5m or 1h30m'
  return {
    expects,
    read(node, ctx, path) {
      if (isScalar(node) && node.value === 0) return 0
      const text = scalarText(node, ctx, path, expects)
      if (text === undefined) return undefined
      const ms = parseDuration(text)
      if (ms === undefined) return report(ctx, node, path, `must be ${expects}, got ${JSON.stringify(text)}`)
      if (options.max !== undefined && ms > options.max) return report(ctx, node, path, `must be at most ${options.max / 1000}s`)
      return ms
    },
  }
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }

/** Sizes in bytes: a whole number, or text such as 10MB, 512KiB, 1GB. */
export function byteSize(): Reader<number> {
  const expects = 'a size such as 10MB, 512KiB or a number of bytes'
  return {
    expects,
    read(node, ctx, path) {
      if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= 0) return node.value
      const text = scalarText(node, ctx, path, expects)
      if (text === undefined) return undefined
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
      const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined
      if (!m || unit === undefined) return report(ctx, node, path, `must be ${expects}, got ${JSON.stringify(text)}`)
      return Math.round(Number(m[1]) * unit)
    },
  }
}

export function list<T>(item: Reader<T>, options: { min?: number; max?: number; partial?: boolean } = {}): Reader<T[]> {
  const expects = `a list of ${item.expects}`
  return {
    expects,
    read(node, ctx, path) {
      if (!isSeq(node)) return mismatch(ctx, node, path, expects)
      if (options.min !== undefined && node.items.length < options.min) {
        return report(ctx, node, path, `must have at least ${options.min} item${options.min === 1 ? '' : 's'}`)
      }
      if (options.max !== undefined && node.items.length > options.max) {
        return report(ctx, node, path, `must have at most ${options.max} items`)
      }
      const out: T[] = []
      let ok = true
      node.items.forEach((raw, i) => {
        const itemPath = `${path}[${i}]`
        ctx.positions?.set(itemPath, position(ctx, raw))
        const child = deref(raw, ctx, itemPath)
        const value = child === undefined ? undefined : item.read(child, ctx, itemPath)
        if (value === undefined) ok = false
        else out.push(value)
      })
      return ok || options.partial ? out : undefined
    },
  }
}

/** A single value or a list of them (Pomerium accepts both for `to`, for example). */
export function oneOrList<T>(item: Reader<T>): Reader<T[]> {
  const asList = list(item, { min: 1 })
  return {
    expects: `${item.expects}, or a list of them`,
    read(node, ctx, path) {
      if (isSeq(node)) return asList.read(node, ctx, path)
      const value = item.read(node, ctx, path)
      return value === undefined ? undefined : [value]
    },
  }
}

/** A mapping with free-form keys (header names, for example). */
export function dict<T>(value: Reader<T>, keyCheck?: (key: string) => string | undefined): Reader<Record<string, T>> {
  const expects = `a mapping of names to ${value.expects}`
  return {
    expects,
    read(node, ctx, path) {
      if (!isMap(node)) return mismatch(ctx, node, path, expects)
      const out: Record<string, T> = Object.create(null)
      let ok = true
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined
        if (key === undefined) {
          report(ctx, pair.key, path, 'keys must be plain strings')
          ok = false
          continue
        }
        const keyPath = `${path}.${key}`
        const problem = keyCheck?.(key)
        if (problem) {
          report(ctx, pair.key, keyPath, problem)
          ok = false
          continue
        }
        const child = deref(pair.value, ctx, keyPath)
        const v = child === undefined ? undefined : value.read(child, ctx, keyPath)
        if (v === undefined) ok = false
        else out[key] = v
      }
      return ok ? out : undefined
    },
  }
}

/** A YAML subtree as plain data, for blocks another module validates (policies).
 *  `onNode` learns which node each key path came from, to place that module's errors. */
export function toPlain(node: unknown, ctx: ReadContext, path: string, onNode?: (path: string, node: unknown, key?: unknown) => void, key?: unknown): unknown {
  const resolved = deref(node, ctx, path)
  onNode?.(path, resolved, key)
  if (isMap(resolved)) {
    const out: Record<string, unknown> = {}
    for (const pair of resolved.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined
      if (key === undefined) {
        report(ctx, pair.key, path, 'keys must be plain strings')
        continue
      }
      out[key] = toPlain(pair.value, ctx, `${path}.${key}`, onNode, pair.key)
    }
    return out
  }
  if (isSeq(resolved)) return resolved.items.map((item, i) => toPlain(item, ctx, `${path}[${i}]`, onNode))
  if (isScalar(resolved)) {
    return typeof resolved.value === 'string' ? substituteEnv(resolved.value, ctx, resolved, path) : resolved.value
  }
  return null
}

type Shape = Record<string, Reader<unknown>>
export type ObjectOf<S extends Shape> = { [K in keyof S]?: S[K] extends Reader<infer T> ? T : never }

export interface ObjectOptions<S extends Shape> {
  required?: readonly (keyof S & string)[]
  /** Groups of keys of which at most one may be set. */
  exclusive?: readonly (readonly (keyof S & string)[])[]
  expects?: string
  /** Keep what did read when something else did not (its issues are reported): the
   *  config and route files go on to the cross-checks, so `check` lists every error in
   *  one pass instead of in waves. The loader never runs such a config. */
  partial?: boolean
}

export function obj<S extends Shape>(shape: S, options: ObjectOptions<S> = {}): Reader<ObjectOf<S>> {
  const known = Object.keys(shape)
  const expects = options.expects ?? 'a mapping'
  return {
    expects,
    read(node, ctx, path) {
      if (!isMap(node)) return mismatch(ctx, node, path, expects)
      const out: Record<string, unknown> = {}
      const keyNodes: Record<string, unknown> = {}
      let ok = true
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : undefined
        if (typeof key !== 'string') {
          report(ctx, pair.key ?? node, path, `keys must be plain strings, got ${describeNode(pair.key)}`)
          ok = false
          continue
        }
        const keyPath = path ? `${path}.${key}` : key
        const reader = Object.hasOwn(shape, key) ? shape[key] : undefined
        if (!reader) {
          report(ctx, pair.key, keyPath, `unknown key${suggest(key, known)}`)
          ok = false
          continue
        }
        keyNodes[key] = pair.key
        ctx.positions?.set(keyPath, position(ctx, pair.value ?? pair.key))
        const child = deref(pair.value, ctx, keyPath)
        const value = child === undefined ? undefined : reader.read(child, ctx, keyPath)
        if (value === undefined) ok = false
        else out[key] = value
      }
      for (const key of options.required ?? []) {
        if (!(key in keyNodes)) {
          report(ctx, node, path, `missing required key "${key}"`)
          ok = false
        }
      }
      for (const group of options.exclusive ?? []) {
        const present = group.filter((k) => k in keyNodes)
        if (present.length > 1) {
          report(ctx, keyNodes[present[1]], path, `set only one of ${group.join(', ')} (found ${present.join(' and ')})`)
          ok = false
        }
      }
      return ok || options.partial ? (out as ObjectOf<S>) : undefined
    },
  }
}

/** Wraps a reader with a check on the value it produced, reported at the same node. */
export function refine<T, U>(reader: Reader<T>, convert: (value: T) => { value: U } | { error: string }): Reader<U> {
  return {
    expects: reader.expects,
    read(node, ctx, path) {
      const value = reader.read(node, ctx, path)
      if (value === undefined) return undefined
      const result = convert(value)
      if ('error' in result) return report(ctx, node, path, result.error)
      return result.value
    },
  }
}

export interface Located<T> {
  value: T
  at: Location
}

/** Keeps where a value was written, for checks that compare values across files. */
export function located<T>(reader: Reader<T>): Reader<Located<T>> {
  return {
    expects: reader.expects,
    read(node, ctx, path) {
      const value = reader.read(node, ctx, path)
      return value === undefined ? undefined : { value, at: { file: ctx.file, ...position(ctx, node), path } }
    },
  }
}
