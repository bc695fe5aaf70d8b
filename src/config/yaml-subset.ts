// A fast reader for the YAML that configuration files are nearly always written in:
// nested block mappings and lists; one-line scalars, plain or quoted without escapes;
// lists and mappings of such scalars on one line ([a, b], { k: v }); comments. The yaml
// library spends most of a large configuration's start-up in its general parser (and a
// good part of a small one's in loading it). This reads the same text into the same tree
// (yaml-tree.ts), with the same start offsets and the same YAML 1.2 core-schema values,
// so the readers in schema.ts cannot tell the difference. Anything else (anchors,
// aliases, tags, block scalars, multi-line or escaped scalars, nested or multi-line flow
// collections, empty values, duplicate keys, directives, tabs, anything in error) gives
// undefined: the caller then parses with the library, whose messages and positions
// every error report relies on.

import type { LinePositions, YamlMap, YamlNode, YamlPair, YamlScalar, YamlSeq } from './yaml-tree.js'

/** Thrown at the first thing outside the subset; caught once, in readYamlSubset. */
class OutsideSubset extends Error {}

const outside = (): never => {
  throw new OutsideSubset()
}

/** Characters the library treats specially or that change line structure: tabs, carriage
 *  returns, other control characters, a byte-order mark, Unicode line breaks. */
const UNUSUAL_CHARACTERS = /[\x00-\x09\x0b-\x1f\x7f\x85\ufeff\u2028\u2029]/

/** Keys as nearly every configuration writes them. A key is resolved as a scalar like any
 *  other (`true:` is a boolean key, which the readers then refuse). */
const KEY = /[A-Za-z0-9_][A-Za-z0-9_./-]*(?=:(?:[ \n]|$))/y

/** Characters that cannot start a plain scalar, or start one the subset leaves out. */
const PLAIN_START_EXCLUDED = new Set([...'?:,[]{}#&*!|>\'"%@`'])

// The YAML 1.2 core schema as the yaml library applies it (schema/core): null, booleans
// and decimal integers are resolved here; other numbers are left to the library.
const NULL = /^(?:~|[Nn]ull|NULL)$/
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/
const DECIMAL = /^[-+]?[0-9]+$/
const OTHER_NUMBER = /^(?:0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/

function resolvePlain(text: string): unknown {
  if (NULL.test(text)) return null
  if (BOOL.test(text)) return text[0] === 't' || text[0] === 'T'
  if (DECIMAL.test(text)) return parseInt(text, 10)
  if (OTHER_NUMBER.test(text)) return outside()
  return text
}

const scalar = (value: unknown, start: number): YamlScalar => ({ kind: 'scalar', start, value })

/** Line starts, searched as the library's LineCounter searches them. */
class LineStarts implements LinePositions {
  readonly lineStarts: number[] = []

  linePos(offset: number): { line: number; col: number } {
    let low = 0
    let high = this.lineStarts.length
    while (low < high) {
      const mid = (low + high) >> 1
      if (this.lineStarts[mid] < offset) low = mid + 1
      else high = mid
    }
    if (this.lineStarts[low] === offset) return { line: low + 1, col: 1 }
    if (low === 0) return { line: 0, col: offset }
    return { line: low, col: offset - this.lineStarts[low - 1] + 1 }
  }
}

/** The lines that hold content (not blank, not only a comment), with their indentation. */
interface ContentLine {
  /** Offset of the first character after the indentation. */
  readonly at: number
  /** Offset of the line's end (its newline, or the end of the text). */
  readonly end: number
  readonly indent: number
}

function contentLines(text: string, lines: LineStarts): ContentLine[] {
  const out: ContentLine[] = []
  for (let start = 0; start <= text.length;) {
    lines.lineStarts.push(start)
    const newline = text.indexOf('\n', start)
    const end = newline === -1 ? text.length : newline
    let at = start
    while (at < end && text.charCodeAt(at) === 0x20) at++
    if (at < end && text[at] !== '#') {
      // Directives and document markers belong to the library.
      if (at === start && (text[at] === '%' || /^(?:---|\.\.\.)(?:\s|$)/.test(text.slice(at, at + 4)))) outside()
      out.push({ at, end, indent: at - start })
    }
    if (newline === -1) break
    start = newline + 1
  }
  return out
}

class SubsetReader {
  private next = 0

  constructor(
    private readonly text: string,
    private readonly lines: readonly ContentLine[],
  ) {}

  document(): YamlNode {
    const first = this.lines[0] ?? outside()
    const root = this.block(first.indent)
    if (this.next < this.lines.length) outside()
    return root
  }

  private get current(): ContentLine | undefined {
    return this.lines[this.next]
  }

  /** The offset of the colon after a key starting at `at`, if one does. */
  private keyEnd(at: number): number | undefined {
    KEY.lastIndex = at
    return KEY.exec(this.text) ? KEY.lastIndex : undefined
  }

  private isItem(at: number, end: number): boolean {
    return this.text[at] === '-' && (at + 1 === end || this.text[at + 1] === ' ')
  }

  /** The collection starting on the current line, at `indent`. */
  private block(indent: number): YamlNode {
    const line = this.current!
    return this.isItem(line.at, line.end) ? this.sequence(indent) : this.mapping(line.at, indent)
  }

  /** A value written on the lines after its key or dash: deeper than `parentIndent`, or
   *  for a mapping's value a list at the key's own indentation. */
  private nestedValue(parentIndent: number, listMayShareIndent: boolean): YamlNode {
    const line = this.current
    if (line && line.indent > parentIndent) return this.block(line.indent)
    if (line && listMayShareIndent && line.indent === parentIndent && this.isItem(line.at, line.end)) return this.sequence(parentIndent)
    // An empty value is null placed where the library alone knows.
    return outside()
  }

  /** A value after its key or dash that ends its line: a scalar, or a flow list or
   *  mapping of scalars. Anything deeper on the following lines would continue it (or be
   *  an error). */
  private inlineValue(at: number, end: number, parentIndent: number): YamlNode {
    const opener = this.text[at]
    const node = opener === '[' || opener === '{' ? this.flowCollection(at, end) : this.oneLineScalar(at, end)
    this.next++
    const following = this.current
    if (following && following.indent > parentIndent) outside()
    return node
  }

  private oneLineScalar(at: number, end: number): YamlScalar {
    const text = this.text
    if (text[at] === '"' || text[at] === "'") {
      const { node, after } = this.quoted(at, end)
      this.expectLineEnd(after, end)
      return node
    }
    this.plainStart(at, end)
    let stop = at + 1
    while (stop < end && !(text[stop] === '#' && text[stop - 1] === ' ')) stop++
    while (text.charCodeAt(stop - 1) === 0x20) stop--
    const source = text.slice(at, stop)
    if (source.includes(': ') || source.endsWith(':')) outside()
    return scalar(resolvePlain(source), at)
  }

  private plainStart(at: number, end: number): void {
    const first = this.text[at]
    if (PLAIN_START_EXCLUDED.has(first) || (first === '-' && (at + 1 === end || this.text[at + 1] === ' '))) outside()
  }

  /** A quoted scalar closed on its line, without escapes; `after` is past its closing quote. */
  private quoted(at: number, end: number): { node: YamlScalar; after: number } {
    const text = this.text
    const quote = text[at]
    let close = text.indexOf(quote, at + 1)
    // '' is a quote inside single quotes.
    while (quote === "'" && close !== -1 && close < end && text[close + 1] === "'") close = text.indexOf(quote, close + 2)
    if (close === -1 || close >= end) outside()
    const body = text.slice(at + 1, close)
    if (quote === '"' && body.includes('\\')) outside()
    return { node: scalar(quote === "'" ? body.replaceAll("''", "'") : body, at), after: close + 1 }
  }

  /** A scalar inside [ ] or { } (a key ends at its colon): quoted, or plain without the
   *  characters that mean something there. `after` is where it ends. */
  private flowScalar(at: number, end: number, isKey = false): { node: YamlScalar; after: number } {
    const text = this.text
    if (text[at] === '"' || text[at] === "'") return this.quoted(at, end)
    this.plainStart(at, end)
    let after = at
    const stops = isKey ? ',[]{}:' : ',[]{}'
    while (after < end && !stops.includes(text[after])) after++
    let stop = after
    while (text.charCodeAt(stop - 1) === 0x20) stop--
    const source = text.slice(at, stop)
    if (source === '' || /[:#]/.test(source)) outside()
    return { node: scalar(resolvePlain(source), at), after }
  }

  private skipSpaces(at: number, end: number): number {
    while (at < end && this.text.charCodeAt(at) === 0x20) at++
    return at
  }

  /** `[a, b]` or `{ a: 1, b: 2 }` of scalars, on one line. */
  private flowCollection(at: number, end: number): YamlMap | YamlSeq {
    const text = this.text
    const isMap = text[at] === '{'
    const close = isMap ? '}' : ']'
    const items: YamlNode[] = []
    const pairs: YamlPair[] = []
    const seen = new Set<unknown>()
    let i = this.skipSpaces(at + 1, end)
    while (text[i] !== close) {
      const first = this.flowScalar(i, end, isMap)
      i = this.skipSpaces(first.after, end)
      if (isMap) {
        if (text[i] !== ':' || text[i + 1] !== ' ' || seen.has(first.node.value)) outside()
        seen.add(first.node.value)
        const value = this.flowScalar(this.skipSpaces(i + 1, end), end)
        pairs.push({ key: first.node, value: value.node })
        i = this.skipSpaces(value.after, end)
      } else items.push(first.node)
      if (text[i] === ',') {
        i = this.skipSpaces(i + 1, end)
        // A trailing comma is left to the library.
        if (text[i] === close) outside()
      } else if (text[i] !== close) outside()
    }
    this.expectLineEnd(i + 1, end)
    return isMap ? { kind: 'map', start: at, items: pairs } : { kind: 'seq', start: at, items }
  }

  /** Only spaces and a comment may follow a quoted scalar or a flow collection on its line. */
  private expectLineEnd(from: number, end: number): void {
    let i = from
    while (i < end && this.text.charCodeAt(i) === 0x20) i++
    if (i < end && !(this.text[i] === '#' && i > from)) outside()
  }

  /** A mapping whose first key is at offset `at` of the current line (after a dash for a
   *  mapping inside a list item), its keys at column `indent`. */
  private mapping(at: number, indent: number): YamlMap {
    const items: YamlPair[] = []
    const seen = new Set<unknown>()
    let first = true
    for (;;) {
      const line = this.current!
      const keyAt = first ? at : line.at
      const colon = this.keyEnd(keyAt) ?? outside()
      const key = scalar(resolvePlain(this.text.slice(keyAt, colon)), keyAt)
      if (seen.has(key.value)) outside()
      seen.add(key.value)
      let valueAt = colon + 1
      while (valueAt < line.end && this.text.charCodeAt(valueAt) === 0x20) valueAt++
      let value: YamlNode
      if (valueAt === line.end || this.text[valueAt] === '#') {
        this.next++
        value = this.nestedValue(indent, true)
      } else value = this.inlineValue(valueAt, line.end, indent)
      items.push({ key, value })
      first = false
      const following = this.current
      if (following && (following.indent > indent || (following.indent === indent && this.isItem(following.at, following.end)))) outside()
      if (!following || following.indent < indent) break
    }
    return { kind: 'map', start: at, items }
  }

  /** A list whose dashes are at column `indent`, starting on the current line. */
  private sequence(indent: number): YamlSeq {
    const items: YamlNode[] = []
    const start = this.current!.at
    for (;;) {
      const line = this.current!
      let itemAt = line.at + 1
      while (itemAt < line.end && this.text.charCodeAt(itemAt) === 0x20) itemAt++
      let item: YamlNode
      if (itemAt === line.end || this.text[itemAt] === '#') {
        this.next++
        item = this.nestedValue(indent, false)
      } else if (this.keyEnd(itemAt) !== undefined) item = this.mapping(itemAt, itemAt - line.at + line.indent)
      else item = this.inlineValue(itemAt, line.end, indent)
      items.push(item)
      const following = this.current
      if (following && following.indent > indent) outside()
      if (!following || following.indent < indent || !this.isItem(following.at, following.end)) break
    }
    return { kind: 'seq', start, items }
  }
}

/** The document's root node, and its line starts as the library's parser records them;
 *  undefined when the text needs the library. */
export function readYamlSubset(text: string): { contents: YamlNode; lines: LineStarts } | undefined {
  if (UNUSUAL_CHARACTERS.test(text)) return undefined
  try {
    const lines = new LineStarts()
    return { contents: new SubsetReader(text, contentLines(text, lines)).document(), lines }
  } catch (err) {
    if (err instanceof OutsideSubset) return undefined
    throw err
  }
}
