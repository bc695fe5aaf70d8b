// The error table in src/errors.ts and the README's "Error codes" table say the same
// thing, both ways, and every code is raised somewhere in src/.

import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ERRORS, GatehouseError } from '../src/errors.js'

const ROOT = path.join(import.meta.dirname, '..')

function documented(): Map<string, number> {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Error codes'))
  const rows = new Map<string, number>()
  for (const m of section.slice(0, section.indexOf('\n## ', 3)).matchAll(/^\| `(GH_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)) rows.set(m[1], Number(m[2]))
  return rows
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name)
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : []
  })
}

t.test('every code in src/errors.ts is in the README with its status', async (t) => {
  const rows = documented()
  for (const [code, { status }] of Object.entries(ERRORS)) t.equal(rows.get(code), status, `${code} documented as ${status}`)
})

t.test('every code in the README exists in src/errors.ts', async (t) => {
  for (const [code, status] of documented()) t.equal(ERRORS[code as keyof typeof ERRORS]?.status, status, `${code} exists with status ${status}`)
})

t.test('every code is raised somewhere outside the table', async (t) => {
  const text = sources(path.join(ROOT, 'src'))
    .filter((f) => !f.endsWith(path.join('src', 'errors.ts')))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n')
  for (const code of Object.keys(ERRORS)) t.ok(text.includes(`'${code}'`), `${code} is used`)
})

t.test('errors carry their code, status and cause', async (t) => {
  const cause = new Error('underneath')
  const err = new GatehouseError('GH_ERR_UPSTREAM_TIMEOUT', 'slow', { cause })
  t.equal(err.code, 'GH_ERR_UPSTREAM_TIMEOUT')
  t.equal(err.status, 504)
  t.equal(err.cause, cause)
  t.equal(err.message, 'slow')
})
