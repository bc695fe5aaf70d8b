// Policy tests (`*.test.yaml` beside the routes, run by `gatehouse test`) and the
// request model they share with `gatehouse explain` (explain.ts). Everything here is pure apart from
// reading the test files: the CLI prints what these functions return.
//
// A test request is judged exactly as the proxy would judge it: the URL's host goes
// through parseHost, its path through normalizeTarget, the route comes from the same
// RouteTable, and the user goes through prepareUser.

import { readdir } from 'node:fs/promises'
import { isIP } from 'node:net'
import path from 'node:path'
import type { ConfigIssue } from '../errors.js'
import { prepareUser, type Decision, type PolicyInput, type UserClaims, type Verdict } from '../policy/index.js'
import { parseHost } from '../routes/host.js'
import { normalizeTarget } from '../routes/normalize.js'
import type { Route } from '../routes/route.js'
import { RouteTable } from '../routes/table.js'
import { suggest } from '../suggest.js'
import type { Config } from '../config/compile.js'
import { displayName, readBounded, readYaml, type LoadOptions } from '../config/load.js'
import { dict, list, located, obj, refine, report, str, toPlain, type Located, type Reader } from '../config/schema.js'
import { isMap } from '../config/yaml-tree.js'
import type { Location } from '../types.js'

export const VERDICTS: readonly Verdict[] = ['allow', 'deny', 'sign_in']

/** `*.test.yaml` (or `.yml`) files hold policy tests. */
export const isPolicyTestFile = (name: string) => /\.test\.ya?ml$/.test(name)

// ---- the request ------------------------------------------------------------------

/** Where a URL leads, split the way the proxy splits a request. */
export interface RequestTarget {
  readonly hostname: string
  readonly port: string | undefined
  /** The normalised path the policy judges. */
  readonly path: string
}

/** One request to judge, from a test case or from explain's flags. */
export interface TestRequest {
  readonly method: string
  /** The URL as written. */
  readonly url: string
  readonly target: RequestTarget
  readonly sourceIp: string
  /** Milliseconds since the epoch; undefined means "now". */
  readonly time: number | undefined
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
}

export const DEFAULT_METHOD = 'GET'
export const DEFAULT_SOURCE_IP = '127.0.0.1'

export type Parsed<T> = { value: T } | { error: string }

/** An http(s) URL, its path normalised as the proxy would (a fragment is dropped, as
 *  browsers never send it). */
export function parseUrl(text: string): Parsed<RequestTarget> {
  const m = /^(https?):\/\/([^/?#]*)([^#]*)(#.*)?$/is.exec(text)
  if (!m) return { error: `must be an http or https URL such as https://app.example.com/path, got ${JSON.stringify(text)}` }
  const host = parseHost(m[2])
  if (!host) return { error: `has an invalid host ${JSON.stringify(m[2])} (a host name or IP, optionally :port, without user info)` }
  const rest = m[3]
  const target = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest
  const normalized = normalizeTarget(target)
  if (!normalized.ok) return { error: `is refused by Gatehouse as a request would be: ${normalized.detail}` }
  return { value: { hostname: host.hostname, port: host.port, path: normalized.path } }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function parseMethod(text: string): Parsed<string> {
  return TOKEN.test(text) ? { value: text.toUpperCase() } : { error: `must be an HTTP method such as GET or POST, got ${JSON.stringify(text)}` }
}

/** As the proxy sees it: an IPv4-mapped IPv6 address counts as IPv4. */
export function parseSourceIp(text: string): Parsed<string> {
  if (isIP(text) === 0) return { error: `must be an IPv4 or IPv6 address, got ${JSON.stringify(text)}` }
  return { value: text.toLowerCase().startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/i

/** ISO 8601 with a zone (a bare date is midnight UTC): a local time would make a test's
 *  outcome depend on the machine that runs it. */
export function parseTime(text: string): Parsed<number> {
  const ms = ISO_TIME.test(text) ? Date.parse(text) : NaN
  return Number.isNaN(ms)
    ? { error: `must be an ISO 8601 time with a zone, such as 2026-01-05T09:00:00Z or 2026-01-05T10:00:00+01:00, got ${JSON.stringify(text)}` }
    : { value: ms }
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function checkHeader(name: string, value: string): string | undefined {
  if (!HEADER_NAME.test(name)) return `${JSON.stringify(name)} is not a valid header name`
  if (/[\r\n\0]/.test(value)) return 'header values must not contain CR, LF or NUL'
  return undefined
}

/** Builds the policy engine's input: one builder for tests and explain alike. */
export function buildPolicyInput(request: TestRequest, user: UserClaims | undefined, now: number = Date.now()): PolicyInput {
  return {
    request: {
      method: request.method,
      path: request.target.path,
      host: request.target.hostname,
      sourceIp: request.sourceIp,
      time: request.time ?? now,
      origin: request.headers.origin,
      accessControlRequestMethod: request.headers['access-control-request-method'],
    },
    user: user === undefined ? undefined : prepareUser(user),
  }
}

/** The route the proxy would pick for this request, if any. */
export function findRoute(table: RouteTable, request: TestRequest): Route | undefined {
  return table.find(request.target.hostname, request.target.port, request.target.path)
}

// ---- the user ---------------------------------------------------------------------

export interface TestUserSpec {
  id?: string
  email?: string
  groups?: string[]
  claims?: Record<string, unknown>
}

/** The id defaults to the email; a user with neither could not be told apart. */
function toUserClaims(spec: TestUserSpec): Parsed<UserClaims> {
  const id = spec.id ?? spec.email
  if (id === undefined) return { error: 'a user needs an id or an email (the id defaults to the email)' }
  return { value: { id, email: spec.email, groups: spec.groups ?? [], claims: spec.claims ?? {} } }
}

/** Any YAML data, as the IdP's claims may be. */
const claimsReader: Reader<Record<string, unknown>> = {
  expects: 'a mapping of claim names to values',
  read(node, ctx, at) {
    if (!isMap(node)) return report(ctx, node, at, 'must be a mapping of claim names to values')
    const before = ctx.issues.length
    const value = toPlain(node, ctx, at) as Record<string, unknown>
    return ctx.issues.length > before ? undefined : value
  },
}

const userReader: Reader<UserClaims> = refine(
  obj({ id: str(), email: str(), groups: list(str()), claims: claimsReader }, { expects: 'a mapping with id, email, groups and claims' }),
  (spec) => toUserClaims(spec),
)

/**
 * `--user JSON` for explain, read by the same reader as a test file's `user:` (JSON is
 * YAML). `$` in string values is doubled first: the reader substitutes `${VAR}` in
 * files, which a value given on the command line should not undergo.
 */
export function parseUserJson(text: string): Parsed<UserClaims> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { error: `--user is not valid JSON: ${(err as Error).message}` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: '--user must be a JSON object such as {"email":"ann@example.com","groups":["admins"]}' }
  }
  const escaped = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? v.replaceAll('$', '$$$$') : v))
  const issues: ConfigIssue[] = []
  const user = readYaml(escaped, '--user', userReader, {}, issues)
  if (user === undefined || issues.length > 0) {
    return { error: issues.map((i) => `--user${i.path ? ` ${i.path}` : ''}: ${i.message}`).join('\n') || '--user is not a valid user' }
  }
  return { value: user }
}

// ---- test files -------------------------------------------------------------------

export interface TestCase {
  readonly name: string
  readonly request: TestRequest
  /** undefined: no session. */
  readonly user: UserClaims | undefined
  readonly expect: Verdict
}

const urlReader = refine(str({ expects: 'a URL' }), (text): Parsed<{ url: string; target: RequestTarget }> => {
  const target = parseUrl(text)
  return 'error' in target ? target : { value: { url: text, target: target.value } }
})

const headerValue = str({ expects: 'a header value', check: (value) => checkHeader('x', value) })

const requestReader: Reader<TestRequest> = refine(
  obj(
    {
      method: refine(str({ expects: 'an HTTP method' }), parseMethod),
      url: urlReader,
      source_ip: refine(str({ expects: 'an IP address' }), parseSourceIp),
      time: refine(str({ expects: 'an ISO 8601 time' }), parseTime),
      headers: dict(headerValue, (name) => checkHeader(name, '')),
    },
    { required: ['url'], expects: 'a mapping with url, and optionally method, source_ip, time and headers' },
  ),
  (spec) => ({
    value: {
      method: spec.method ?? DEFAULT_METHOD,
      url: spec.url!.url,
      target: spec.url!.target,
      sourceIp: spec.source_ip ?? DEFAULT_SOURCE_IP,
      time: spec.time,
      headers: Object.fromEntries(Object.entries(spec.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
    },
  }),
)

const caseReader: Reader<TestCase> = refine(
  obj(
    { name: str(), request: requestReader, user: userReader, expect: str({ oneOf: VERDICTS }) },
    { required: ['name', 'request', 'expect'], expects: 'a test case with name, request, expect and optionally user' },
  ),
  (spec) => ({ value: { name: spec.name!, request: spec.request!, user: spec.user, expect: spec.expect as Verdict } }),
)

export const testFileSpec = obj(
  { route: located(str({ expects: "a route's name" })), cases: list(located(caseReader), { min: 1 }) },
  { required: ['route', 'cases'], expects: 'a mapping with route and cases' },
)

export interface PolicyTestFile {
  /** As shown to the operator. */
  readonly file: string
  readonly route: Route
  readonly cases: readonly Located<TestCase>[]
}

export interface LoadedTests {
  readonly files: readonly PolicyTestFile[]
  /** Problems in test files: each such file is left out of `files`. */
  readonly issues: readonly ConfigIssue[]
  /** How many test files were found, valid or not. */
  readonly found: number
}

/** A route named in a test: by name, or by id (`https://kasm.example.com` for a route
 *  without a name). Names are not required to be unique, so ambiguity is an error. */
function routeNamed(routes: readonly Route[], name: Located<string>, issues: ConfigIssue[]): Route | undefined {
  const matches = routes.filter((r) => r.id === name.value)
  if (matches.length === 1) return matches[0]
  const at = name.at
  if (matches.length === 0) {
    const known = routes.map((r) => r.id)
    const listed = known.length > 8 ? `${known.slice(0, 8).join(', ')}, ...` : known.join(', ')
    const hint = suggest(name.value, known) || (known.length === 0 ? ' (the configuration has no routes)' : `; routes: ${listed}`)
    issues.push({ ...at, message: `no route is named ${JSON.stringify(name.value)}${hint}` })
  } else {
    const where = matches.map((r) => `${r.at.file}:${r.at.line}:${r.at.col}`).join(', ')
    issues.push({ ...at, message: `${matches.length} routes are named ${JSON.stringify(name.value)} (${where}); give them distinct names` })
  }
  return undefined
}

/** Reads one test file's text against the configuration's routes. */
export function parseTestFile(
  text: string,
  file: string,
  routes: readonly Route[],
  env: LoadOptions['env'],
  issues: ConfigIssue[],
): PolicyTestFile | undefined {
  const before = issues.length
  const spec = readYaml(text, file, testFileSpec, env, issues)
  if (spec === undefined || issues.length > before) return undefined
  const route = routeNamed(routes, spec.route!, issues)
  return route && { file, route, cases: spec.cases! }
}

/** Every `*.test.yaml` in the configuration's policies_dir, sorted by name. */
export async function loadPolicyTests(config: Config, options: LoadOptions = {}): Promise<LoadedTests> {
  const issues: ConfigIssue[] = []
  const files: PolicyTestFile[] = []
  const dir = config.policiesDir
  if (dir === undefined) return { files, issues, found: 0 }
  let names: string[]
  try {
    names = (await readdir(dir)).filter(isPolicyTestFile).sort()
  } catch (err) {
    // loadConfig already refused a policies_dir the operator named and that is missing.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files, issues, found: 0 }
    throw err
  }
  for (const name of names) {
    const full = path.join(dir, name)
    const source = { path: full, display: displayName(full) }
    const text = await readBounded(source, issues)
    if (text === undefined) continue
    const parsed = parseTestFile(text, source.display, config.routes, options.env, issues)
    if (parsed) files.push(parsed)
  }
  return { files, issues, found: names.length }
}

// ---- running ----------------------------------------------------------------------

export type CaseOutcome =
  /** The URL reached the test's route and the policy decided. */
  | { readonly kind: 'decided'; readonly decision: Decision; readonly passed: boolean }
  /** The URL reached another route, or none: the case cannot say anything about its route. */
  | { readonly kind: 'wrong_route'; readonly reached: Route | undefined; readonly passed: false }

export interface CaseResult {
  readonly file: string
  readonly route: Route
  readonly at: Location
  readonly testCase: TestCase
  readonly outcome: CaseOutcome
}

export function runCase(table: RouteTable, file: PolicyTestFile, testCase: Located<TestCase>, now: number): CaseResult {
  const { value, at } = testCase
  const reached = findRoute(table, value.request)
  const base = { file: file.file, route: file.route, at, testCase: value }
  if (reached !== file.route) return { ...base, outcome: { kind: 'wrong_route', reached, passed: false } }
  const decision = reached.policy.evaluate(buildPolicyInput(value.request, value.user, now))
  return { ...base, outcome: { kind: 'decided', decision, passed: decision.verdict === value.expect } }
}

/** Runs every case of every file; `now` stands in for cases without a time. */
export function runPolicyTests(config: Config, files: readonly PolicyTestFile[], now: number = Date.now()): CaseResult[] {
  const table = new RouteTable(config.routes)
  return files.flatMap((file) => file.cases.map((c) => runCase(table, file, c, now)))
}

export interface Summary {
  readonly passed: number
  readonly failed: number
}

export function summarize(results: readonly CaseResult[]): Summary {
  const passed = results.filter((r) => r.outcome.passed).length
  return { passed, failed: results.length - passed }
}

// ---- reporting --------------------------------------------------------------------

const NO_RULE = (decision: Decision) => (decision.verdict === 'sign_in' ? 'a criterion needs a signed-in user' : 'no allow rule matched')

/** The rule that decided, or why none did. */
export function describeRule(decision: Decision): string {
  return decision.rule ? `${decision.rule.action} rule ${decision.rule.label}` : `none (${NO_RULE(decision)})`
}

/** `allow [groups-ok] by allow rule routes[0].policy[1]`, `sign_in [user-unauthenticated], a criterion needs...` */
export function describeDecision(decision: Decision): string {
  const head = `${decision.verdict} [${decision.reasons.join(', ')}]`
  return decision.rule ? `${head} by ${decision.rule.action} rule ${decision.rule.label}` : `${head}, ${NO_RULE(decision)}`
}

/** One line per case: PASS or FAIL, where, which, and what decided. */
export function formatResult(result: CaseResult): string {
  const where = `${result.file}:${result.at.line}:${result.at.col}`
  const name = JSON.stringify(result.testCase.name)
  const { outcome } = result
  if (outcome.kind === 'wrong_route') {
    const reached = outcome.reached ? `route ${outcome.reached.id}` : 'no route'
    return `FAIL ${where} ${name}: ${result.testCase.request.url} reaches ${reached}, not route ${result.route.id}`
  }
  const { decision } = outcome
  return outcome.passed
    ? `PASS ${where} ${name}: ${describeDecision(decision)}`
    : `FAIL ${where} ${name}: expected ${result.testCase.expect}, got ${describeDecision(decision)}`
}

export const formatSummary = (s: Summary) => `${s.passed} passed, ${s.failed} failed`
