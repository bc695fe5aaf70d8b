// A fast reader for the block-style YAML that configuration files are nearly always
// written in: nested mappings and lists, plain and simply quoted one-line scalars, and
// comments. The yaml library spends most of a large configuration's start-up in its
// general parser; this reads the same text into the same nodes (YAMLMap, YAMLSeq, Pair,
// Scalar), at the same source offsets and with the same YAML 1.2 core-schema values, so
// the readers in schema.ts cannot tell the difference. Whatever lies outside the subset
// (flow collections, anchors, aliases, tags, block scalars, multi-line or escaped
// scalars, empty values, duplicate keys, directives, tabs, anything in error) gives
// undefined: the caller then parses with the library, whose messages and positions
// every error report relies on.

import { LineCounter, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml'

type Node = YAMLMap | YAMLSeq | Scalar

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

function scalar(value: unknown, start: number, end: number): Scalar {
  const node = new Scalar(value)
  node.range = [start, end, end]
  return node
}

/** The lines that hold content (not blank, not only a comment), with their indentation. */
interface ContentLine {
  /** Offset of the first character after the indentation. */
  readonly at: number
  /** Offset of the line's end (its newline, or the end of the text). */
  readonly end: number
  readonly indent: number
}

function contentLines(text: string, lines: LineCounter): ContentLine[] {
  const out: ContentLine[] = []
  for (let start = 0; start <= text.length;) {
    lines.addNewLine(start)
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

  document(): Node {
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
  private block(indent: number): Node {
    const line = this.current!
    return this.isItem(line.at, line.end) ? this.sequence(indent) : this.mapping(line.at, indent)
  }

  /** A value written on the lines after its key or dash: deeper than `parentIndent`, or
   *  for a mapping's value a list at the key's own indentation. */
  private nestedValue(parentIndent: number, listMayShareIndent: boolean): Node {
    const line = this.current
    if (line && line.indent > parentIndent) return this.block(line.indent)
    if (line && listMayShareIndent && line.indent === parentIndent && this.isItem(line.at, line.end)) return this.sequence(parentIndent)
    // An empty value is null placed where the library alone knows.
    return outside()
  }

  /** A scalar from `at` to the end of its line, which must be its last: anything deeper
   *  on the following lines would continue it (or be an error). */
  private inlineScalar(at: number, end: number, parentIndent: number): Scalar {
    const node = this.oneLineScalar(at, end)
    this.next++
    const following = this.current
    if (following && following.indent > parentIndent) outside()
    return node
  }

  private oneLineScalar(at: number, end: number): Scalar {
    const text = this.text
    const quote = text[at]
    if (quote === '"' || quote === "'") {
      let close = text.indexOf(quote, at + 1)
      // '' is a quote inside single quotes.
      while (quote === "'" && close !== -1 && close < end && text[close + 1] === "'") close = text.indexOf(quote, close + 2)
      if (close === -1 || close >= end) outside()
      const body = text.slice(at + 1, close)
      if (quote === '"' && body.includes('\\')) outside()
      this.expectLineEnd(close + 1, end)
      return scalar(quote === "'" ? body.replaceAll("''", "'") : body, at, close + 1)
    }
    if (PLAIN_START_EXCLUDED.has(quote) || (quote === '-' && (at + 1 === end || text[at + 1] === ' '))) outside()
    let stop = at + 1
    while (stop < end && !(text[stop] === '#' && text[stop - 1] === ' ')) stop++
    while (text.charCodeAt(stop - 1) === 0x20) stop--
    const source = text.slice(at, stop)
    if (source.includes(': ') || source.endsWith(':')) outside()
    return scalar(resolvePlain(source), at, stop)
  }

  /** Only spaces and a comment may follow a quoted scalar on its line. */
  private expectLineEnd(from: number, end: number): void {
    let i = from
    while (i < end && this.text.charCodeAt(i) === 0x20) i++
    if (i < end && !(this.text[i] === '#' && i > from)) outside()
  }

  /** A mapping whose first key is at offset `at` of the current line (after a dash for a
   *  mapping inside a list item), its keys at column `indent`. */
  private mapping(at: number, indent: number): YAMLMap {
    const map = new YAMLMap()
    const seen = new Set<unknown>()
    let first = true
    let end = at
    for (;;) {
      const line = this.current!
      const keyAt = first ? at : line.at
      const colon = this.keyEnd(keyAt) ?? outside()
      const key = scalar(resolvePlain(this.text.slice(keyAt, colon)), keyAt, colon)
      if (seen.has(key.value)) outside()
      seen.add(key.value)
      let valueAt = colon + 1
      while (valueAt < line.end && this.text.charCodeAt(valueAt) === 0x20) valueAt++
      let value: Node
      if (valueAt === line.end || this.text[valueAt] === '#') {
        this.next++
        value = this.nestedValue(indent, true)
      } else value = this.inlineScalar(valueAt, line.end, indent)
      map.items.push(new Pair(key, value))
      end = value.range![1]
      first = false
      const following = this.current
      if (following && (following.indent > indent || (following.indent === indent && this.isItem(following.at, following.end)))) outside()
      if (!following || following.indent < indent) break
    }
    map.range = [at, end, end]
    return map
  }

  /** A list whose dashes are at column `indent`, starting on the current line. */
  private sequence(indent: number): YAMLSeq {
    const seq = new YAMLSeq()
    const start = this.current!.at
    let end = start
    for (;;) {
      const line = this.current!
      let itemAt = line.at + 1
      while (itemAt < line.end && this.text.charCodeAt(itemAt) === 0x20) itemAt++
      let item: Node
      if (itemAt === line.end || this.text[itemAt] === '#') {
        this.next++
        item = this.nestedValue(indent, false)
      } else if (this.keyEnd(itemAt) !== undefined) item = this.mapping(itemAt, itemAt - line.at + line.indent)
      else item = this.inlineScalar(itemAt, line.end, indent)
      seq.items.push(item)
      end = item.range![1]
      const following = this.current
      if (following && following.indent > indent) outside()
      if (!following || following.indent < indent || !this.isItem(following.at, following.end)) break
    }
    seq.range = [start, end, end]
    return seq
  }
}

/** The document's root node, and its line starts as the library's parser records them;
 *  undefined when the text needs the library. */
export function readYamlSubset(text: string): { contents: Node; lines: LineCounter } | undefined {
  if (UNUSUAL_CHARACTERS.test(text)) return undefined
  try {
    const lines = new LineCounter()
    return { contents: new SubsetReader(text, contentLines(text, lines)).document(), lines }
  } catch (err) {
    if (err instanceof OutsideSubset) return undefined
    throw err
  }
}
