// The YAML tree the readers in schema.ts walk, with each node's start offset in its
// file. The subset reader (yaml-subset.ts) builds it directly; any other text is parsed
// by the yaml library, loaded only then, and its document converted.

import { createRequire } from 'node:module'
import type { Document, LineCounter, Node as LibraryNode } from 'yaml'

export interface YamlScalar {
  readonly kind: 'scalar'
  readonly start: number
  readonly value: unknown
}

export interface YamlPair {
  readonly key: YamlNode | null
  readonly value: YamlNode | null
}

export interface YamlMap {
  readonly kind: 'map'
  readonly start: number
  readonly items: YamlPair[]
}

export interface YamlSeq {
  readonly kind: 'seq'
  readonly start: number
  readonly items: (YamlNode | null)[]
}

/** `*name`; `target` is the nearest node anchored `&name` before it, if any. */
export interface YamlAlias {
  readonly kind: 'alias'
  readonly start: number
  readonly source: string
  readonly target: YamlNode | undefined
}

export type YamlNode = YamlScalar | YamlMap | YamlSeq | YamlAlias

/** Line and column (from 1) of an offset, as the library's LineCounter gives them. */
export interface LinePositions {
  linePos(offset: number): { line: number; col: number }
}

let library: typeof import('yaml') | undefined

/** The yaml library, required the first time a text falls outside the subset: most
 *  starts never need it. */
export const yamlLibrary = (): typeof import('yaml') => (library ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'))

/** Parses with the library as every configuration file is read: YAML 1.2, each key
 *  once, no `<<` merges, messages without source text. */
export function parseWithLibrary(text: string, options: { uniqueKeys?: boolean } = {}): { doc: Document; lines: LineCounter } {
  const { LineCounter, parseDocument } = yamlLibrary()
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: options.uniqueKeys ?? true, prettyErrors: false, merge: false, version: '1.2' })
  return { doc, lines }
}

/** The library's node as our tree. Aliases are not expanded: each points at its anchor's
 *  node (which may contain it), and the readers count every dereference. */
export function fromLibrary(node: unknown): YamlNode | null {
  const { isAlias, isMap, isSeq } = yamlLibrary()
  const anchors = new Map<string, YamlNode>()
  const convert = (n: unknown): YamlNode | null => {
    if (n == null) return null
    const start = (n as LibraryNode).range?.[0] ?? 0
    if (isAlias(n)) return { kind: 'alias', start, source: n.source, target: anchors.get(n.source) }
    const out: YamlNode = isMap(n)
      ? { kind: 'map', start, items: [] }
      : isSeq(n)
        ? { kind: 'seq', start, items: [] }
        : { kind: 'scalar', start, value: (n as { value?: unknown }).value }
    // Anchored before the children are converted: the library resolves an alias inside
    // its own anchor's node to that node.
    const anchor = (n as LibraryNode).anchor
    if (anchor) anchors.set(anchor, out)
    // Keys before values: an alias finds the anchors written before it.
    if (out.kind === 'map' && isMap(n)) for (const pair of n.items) out.items.push({ key: convert(pair.key), value: convert(pair.value) })
    if (out.kind === 'seq' && isSeq(n)) for (const item of n.items) out.items.push(convert(item))
    return out
  }
  return convert(node)
}

export const isMap = (node: unknown): node is YamlMap => (node as YamlNode | null | undefined)?.kind === 'map'
export const isSeq = (node: unknown): node is YamlSeq => (node as YamlNode | null | undefined)?.kind === 'seq'
export const isScalar = (node: unknown): node is YamlScalar => (node as YamlNode | null | undefined)?.kind === 'scalar'
export const isAlias = (node: unknown): node is YamlAlias => (node as YamlNode | null | undefined)?.kind === 'alias'
