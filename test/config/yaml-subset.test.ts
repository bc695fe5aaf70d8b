// The subset reader must agree with the yaml library on every text it accepts (the same
// nodes, values and start offsets, so every error keeps its file:line:col), and decline
// the rest. Checked on the repository's configurations and on many variants of them.

import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'
import { readYamlSubset } from '../../src/config/yaml-subset.js'

const ROOT = path.join(import.meta.dirname, '..', '..')

/** Where two node trees differ, or undefined. */
function difference(a: unknown, b: unknown, at: string): string | undefined {
  const kind = (n: unknown) => (isMap(n) ? 'mapping' : isSeq(n) ? 'list' : isScalar(n) ? 'scalar' : String(n))
  if (kind(a) !== kind(b)) return `${at}: ${kind(a)} against ${kind(b)}`
  const [x, y] = [a as Node, b as Node]
  if (x.range?.[0] !== y.range?.[0]) return `${at}: starts at ${x.range?.[0]} against ${y.range?.[0]}`
  if (isScalar(x))
    return Object.is(x.value, (y as typeof x).value) ? undefined : `${at}: ${JSON.stringify(x.value)} against ${JSON.stringify((y as typeof x).value)}`
  const [p, q] = [x as unknown as { items: unknown[] }, y as unknown as { items: unknown[] }]
  if (p.items.length !== q.items.length) return `${at}: ${p.items.length} items against ${q.items.length}`
  for (let i = 0; i < p.items.length; i++) {
    const [m, n] = [p.items[i] as { key?: unknown; value?: unknown }, q.items[i] as { key?: unknown; value?: unknown }]
    const found = isMap(x) ? (difference(m.key, n.key, `${at}.key${i}`) ?? difference(m.value, n.value, `${at}.${i}`)) : difference(m, n, `${at}[${i}]`)
    if (found) return found
  }
  return undefined
}

/** undefined when the subset reader declines `text` or reads it as the library does. */
function disagreement(text: string): string | undefined {
  const subset = readYamlSubset(text)
  if (!subset) return undefined
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, merge: false, version: '1.2' })
  const problems = [...doc.errors, ...doc.warnings]
  if (problems.length > 0) return `accepted what the library refuses: ${problems[0].message.split('\n')[0]}`
  if (subset.lines.lineStarts.join() !== lines.lineStarts.join()) return 'line starts differ'
  return difference(subset.contents, doc.contents, '')
}

/** The text with one line changed in the ways configurations go wrong. */
function variants(text: string): string[] {
  const lines = text.split('\n')
  const values = [
    '',
    '#c',
    'x',
    '- y',
    'k: v',
    '[1]',
    '"a\\"b"',
    "'it''s'",
    '"a" #c',
    '"a"#c',
    '"a" b',
    '1.5',
    '0x10',
    '-7',
    '~',
    'null',
    'True',
    'yes',
    'b: c',
    'b #c',
    'b#c',
    ':b',
    '&a b',
    '*a',
    '!!str b',
    '|',
    '---',
  ]
  const out: string[] = []
  const replaced = (i: number, ...line: string[]) => [...lines.slice(0, i), ...line, ...lines.slice(i + 1)].join('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const indent = /^ */.exec(line)![0]
    out.push(replaced(i), replaced(i, ` ${line}`), replaced(i, line.replace(/^ /, '')), replaced(i, `${line} # note`), replaced(i, `${line}:`))
    out.push(
      replaced(i, line.replace(': ', ':')),
      replaced(i, line.replace('- ', '-   ')),
      replaced(i, line.replace(/: (.*)$/, ': "$1"')),
      replaced(i, line.replace(/: (.*)$/, ": '$1'")),
    )
    for (const value of values) out.push(replaced(i, `${indent}${value}`, line), replaced(i, line.replace(/: .*$/, `: ${value}`)))
  }
  return out
}

const files = ['config.yaml', 'policies/demo.yaml', 'policies/demo.test.yaml']
// The demo files use [flow] lists, which the subset leaves to the library: rewritten in
// block style (one line per scalar) they exercise the subset, indented both ways lists are.
const corpus = files.flatMap((file) => {
  const doc = parseDocument(readFileSync(path.join(ROOT, file), 'utf8'))
  return [doc.toString({ collectionStyle: 'block', lineWidth: 0 }), doc.toString({ collectionStyle: 'block', lineWidth: 0, indent: 4, indentSeq: false })]
})

t.test('reads block-style configurations as the library does', async (t) => {
  for (const text of corpus) {
    t.ok(readYamlSubset(text), 'a block-style configuration is inside the subset')
    t.equal(disagreement(text), undefined)
  }
})

t.test('agrees with the library, or declines, on every variant', async (t) => {
  let accepted = 0
  let found: string | undefined
  for (const text of corpus.flatMap(variants)) {
    accepted += readYamlSubset(text) ? 1 : 0
    found ??= disagreement(text)
  }
  t.equal(found, undefined)
  t.ok(accepted > 1000, `${accepted} variants read by the subset`)
})

t.test('declines what only the library reads', async (t) => {
  const outside = {
    flow: 'a: [1, 2]\n',
    anchors: 'a: &x 1\nb: *x\n',
    tags: 'a: !!str 1\n',
    'block scalars': 'a: |\n  text\n',
    'multi-line plain': 'a: one\n  two\n',
    'multi-line quoted': 'a: "one\n  two"\n',
    escapes: 'a: "\\u0041"\n',
    'empty value': 'a:\nb: 1\n',
    'duplicate keys': 'a: 1\na: 2\n',
    'quoted keys': '"a": 1\n',
    tabs: 'a:\tb\n',
    CRLF: 'a: b\r\n',
    directives: '%YAML 1.2\n---\na: b\n',
    'two documents': 'a: b\n---\nc: d\n',
    floats: 'a: 1.5\n',
    'nothing at all': '# only a comment\n',
  }
  for (const [what, text] of Object.entries(outside)) t.equal(readYamlSubset(text), undefined, what)
})
