// Reads config.yaml and every policies/*.yaml, validates them against the spec and
// compiles the result. All problems from all files are collected before failing, so
// `gatehouse check` can list every one of them at once.

import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { compileConfig, type Config } from './compile.js'
import { str, type ReadContext, type Reader } from './schema.js'
import { configSpec, routesFileSpec, type ConfigSpec } from './spec.js'
import { readYamlSubset } from './yaml-subset.js'
import { fromLibrary, isMap, isScalar, parseWithLibrary, type LinePositions } from './yaml-tree.js'

/** Config files are small; a bound keeps a mistaken or hostile file from eating memory. */
export const MAX_FILE_BYTES = 1024 * 1024

/** `*.test.yaml` files hold policy tests, not routes. */
export const isRoutesFile = (name: string) => /\.ya?ml$/.test(name) && !/\.test\.ya?ml$/.test(name)

export interface LoadOptions {
  env?: Readonly<Record<string, string | undefined>>
}

export interface SourceFile {
  path: string
  display: string
}

export function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file)
  return rel && !rel.startsWith('..') ? rel : file
}

export async function readBounded(file: SourceFile, issues: ConfigIssue[]): Promise<string | undefined> {
  try {
    const info = await stat(file.path)
    if (!info.isFile()) {
      issues.push({ file: file.display, line: 1, col: 1, path: '', message: 'is not a regular file' })
      return undefined
    }
    if (info.size > MAX_FILE_BYTES) {
      issues.push({
        file: file.display,
        line: 1,
        col: 1,
        path: '',
        message: `is ${info.size} bytes; configuration files may be at most ${MAX_FILE_BYTES} bytes`,
      })
      return undefined
    }
    return await readFile(file.path, 'utf8')
  } catch (err) {
    issues.push({ file: file.display, line: 1, col: 1, path: '', message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` })
    return undefined
  }
}

/** Our wording for the parser's problems where its own speaks of its API. */
const LIBRARY_MESSAGES: Partial<Record<string, string>> = {
  DUPLICATE_KEY: 'duplicate key (each key may appear once)',
  MULTIPLE_DOCS: 'holds more than one YAML document (---); use one document per file',
}

/** Parses one YAML text and reads it with `reader`; syntax errors become issues. The
 *  subset reader takes what it can (nearly every file, and quickly); the library the rest. */
export function readYaml<T>(
  text: string,
  file: string,
  reader: Reader<T>,
  env: LoadOptions['env'],
  issues: ConfigIssue[],
  positions?: ReadContext['positions'],
  warnings?: ConfigIssue[],
): T | undefined {
  const context = (lines: LinePositions): ReadContext => ({
    file,
    lines,
    env: env ?? process.env,
    issues,
    aliasesSeen: 0,
    positions,
    warnings,
  })
  const subset = readYamlSubset(text)
  if (subset) return reader.read(subset.contents, context(subset.lines), '')
  const { doc, lines } = parseWithLibrary(text)
  const problems = [...doc.errors, ...doc.warnings]
  const sourceLines = problems.length > 0 ? text.split('\n') : []
  for (const problem of problems) {
    const { line, col } = lines.linePos(problem.pos[0])
    let message = LIBRARY_MESSAGES[problem.code] ?? problem.message.split('\n')[0]
    // `[${SECRET}]` is the usual way to get here: in a flow list or mapping, { is YAML.
    if (/\[[^\]]*\$\{|\{[^}]*\$\{/.test(sourceLines[line - 1] ?? '')) message += ' (inside [ ] or { }, quote "${VAR}" references)'
    issues.push({ file, line, col, path: '', message })
  }
  // A `%YAML 1.1` directive would bring back yes/no/on/off booleans and sexagesimal numbers.
  if (doc.directives?.yaml.explicit && doc.directives.yaml.version !== '1.2') {
    issues.push({
      file,
      line: 1,
      col: 1,
      path: '',
      message: `YAML ${doc.directives.yaml.version} is not accepted; Gatehouse reads YAML 1.2 (remove the %YAML directive)`,
    })
    return undefined
  }
  if (problems.length > 0) return undefined
  // An empty file is an empty mapping: every setting then takes its default.
  return reader.read(fromLibrary(doc.contents) ?? { kind: 'map', start: 0, items: [] }, context(lines), '')
}

/** policies_dir as written, for when config.yaml has errors elsewhere: `check` should
 *  still report on the route files the operator meant. null when it cannot be told. */
function fallbackPoliciesDir(text: string, file: string, env: LoadOptions['env']): string | undefined | null {
  const { doc, lines } = parseWithLibrary(text, { uniqueKeys: false })
  const root = fromLibrary(doc.contents)
  if (!isMap(root)) return undefined
  const pair = root.items.find((p) => isScalar(p.key) && p.key.value === 'policies_dir')
  if (!pair) return undefined
  const ctx: ReadContext = { file, lines, env: env ?? process.env, issues: [], aliasesSeen: 0 }
  return str().read(pair.value, ctx, 'policies_dir') ?? null
}

async function listPolicyFiles(dir: string, explicit: boolean, issues: ConfigIssue[], configFile: SourceFile): Promise<SourceFile[]> {
  try {
    const names = (await readdir(dir)).filter(isRoutesFile).sort()
    // With policies_dir: . config.yaml sits among the route files; it is not one of them.
    return names
      .map((name) => path.join(dir, name))
      .filter((full) => full !== configFile.path)
      .map((full) => ({ path: full, display: displayName(full) }))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // The default folder may be absent; one the operator named must exist (a typo there
    // would otherwise silently drop every route).
    if (code === 'ENOENT' && !explicit) return []
    issues.push({ file: configFile.display, line: 1, col: 1, path: 'policies_dir', message: `cannot be listed: ${code ?? (err as Error).message}` })
    return []
  }
}

/** Loads, validates and compiles a configuration; throws ConfigError listing every problem. */
export async function loadConfig(configPath: string, options: LoadOptions = {}): Promise<Config> {
  const issues: ConfigIssue[] = []
  const configFile: SourceFile = { path: path.resolve(configPath), display: displayName(path.resolve(configPath)) }
  const baseDir = path.dirname(configFile.path)
  const text = await readBounded(configFile, issues)
  const positions = new Map<string, { line: number; col: number }>()
  const warnings: ConfigIssue[] = []
  const env = options.env ?? process.env
  const spec: ConfigSpec | undefined = text === undefined ? undefined : readYaml(text, configFile.display, configSpec, env, issues, positions, warnings)

  // A partial spec (config.yaml has errors) may have dropped an unusable policies_dir:
  // the fallback tells "not set" from "set but unusable", which skips the route files.
  const dirSetting =
    spec && issues.length === 0 ? spec.policies_dir : text === undefined ? undefined : fallbackPoliciesDir(text, configFile.display, options.env)
  const policiesDir = path.resolve(baseDir, dirSetting ?? 'policies')
  const routes = [...(spec?.routes ?? [])]
  for (const file of dirSetting === null ? [] : await listPolicyFiles(policiesDir, dirSetting !== undefined, issues, configFile)) {
    const policyText = await readBounded(file, issues)
    if (policyText === undefined) continue
    const parsed = readYaml(policyText, file.display, routesFileSpec, options.env, issues, undefined, warnings)
    routes.push(...(parsed?.routes ?? []))
  }
  const input = { spec: spec!, routes, configFile: configFile.path, baseDir, policiesDir, displayFile: configFile.display, positions, env, warnings }
  if (issues.length === 0 && spec) return compileConfig(input)
  // What did read still goes through the cross-checks, so every error is listed at once;
  // a partial config is never returned.
  if (spec) {
    try {
      compileConfig(input)
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues)
    }
  }
  throw new ConfigError(issues)
}
