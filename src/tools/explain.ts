// `gatehouse explain`: the route a described request reaches and its policy's decision,
// with every criterion traced. Requests are read and judged as policy tests judge them.

import type { Config } from '../config/compile.js'
import type { Explanation, PolicyInput, UserClaims } from '../policy/index.js'
import type { Route } from '../routes/route.js'
import { RouteTable } from '../routes/table.js'
import {
  buildPolicyInput,
  checkHeader,
  DEFAULT_METHOD,
  DEFAULT_SOURCE_IP,
  describeRule,
  findRoute,
  parseMethod,
  parseSourceIp,
  parseTime,
  parseUrl,
  type Parsed,
  type TestRequest,
} from './policy-tests.js'

export interface ExplainFlags {
  method?: string
  url?: string
  sourceIp?: string
  time?: string
  /** `Name: value`, as curl's -H. */
  headers?: readonly string[]
}

/** explain's flags as a request, with the same checks a test file's request gets. */
export function requestFromFlags(flags: ExplainFlags): Parsed<TestRequest> {
  if (flags.url === undefined) return { error: '--url is required' }
  const target = parseUrl(flags.url)
  if ('error' in target) return { error: `--url ${target.error}` }
  const method = parseMethod(flags.method ?? DEFAULT_METHOD)
  if ('error' in method) return { error: `--method ${method.error}` }
  const sourceIp = parseSourceIp(flags.sourceIp ?? DEFAULT_SOURCE_IP)
  if ('error' in sourceIp) return { error: `--source-ip ${sourceIp.error}` }
  let time: number | undefined
  if (flags.time !== undefined) {
    const parsed = parseTime(flags.time)
    if ('error' in parsed) return { error: `--time ${parsed.error}` }
    time = parsed.value
  }
  const headers: Record<string, string> = {}
  for (const header of flags.headers ?? []) {
    const colon = header.indexOf(':')
    if (colon <= 0) return { error: `--header must be "Name: value", got ${JSON.stringify(header)}` }
    const name = header.slice(0, colon).trim()
    const value = header.slice(colon + 1).trim()
    const problem = checkHeader(name, value)
    if (problem) return { error: `--header ${problem}` }
    headers[name.toLowerCase()] = value
  }
  return { value: { method: method.value, url: flags.url, target: target.value, sourceIp: sourceIp.value, time, headers } }
}

export interface ExplainResult {
  readonly route: Route
  readonly input: PolicyInput
  readonly explanation: Explanation
}

/** The route this request reaches and its policy's decision, every criterion traced. */
export function explainRequest(config: Config, request: TestRequest, user: UserClaims | undefined, now: number = Date.now()): Parsed<ExplainResult> {
  const route = findRoute(new RouteTable(config.routes), request)
  if (!route) {
    const port = request.target.port === undefined ? '' : `:${request.target.port}`
    return { error: `no route matches ${request.url} (host ${request.target.hostname}${port}, path ${request.target.path}); the proxy would answer 404` }
  }
  const input = buildPolicyInput(request, user, now)
  return { value: { route, input, explanation: route.policy.explain(input) } }
}

function describeUser(input: PolicyInput): string {
  const user = input.user
  if (!user) return 'none (no session)'
  const parts = [`id ${user.id}`]
  if (user.email) parts.push(`email ${user.email}`)
  parts.push(`groups [${user.groups.join(', ')}]`)
  const claims = Object.keys(user.claims)
  if (claims.length > 0) parts.push(`claims ${JSON.stringify(user.claims)}`)
  return parts.join(', ')
}

/** explain's report, as lines. Criteria of the deciding rule are marked with `*`. */
export function formatExplanation(result: ExplainResult, request: TestRequest): string[] {
  const { route, input, explanation } = result
  const { decision, trace } = explanation
  const req = input.request
  const lines = [
    `route:    ${route.id} (${route.at.file}:${route.at.line}:${route.at.col})`,
    `request:  ${req.method} ${request.url} (path ${req.path}) from ${req.sourceIp} at ${new Date(req.time).toISOString()}`,
    `user:     ${describeUser(input)}`,
    `verdict:  ${decision.verdict}`,
    `reasons:  ${decision.reasons.join(', ') || 'none'}`,
    `rule:     ${describeRule(decision)}`,
  ]
  if (trace.length === 0) {
    lines.push('criteria: none evaluated (the policy has no rules, so everything is denied)')
    return lines
  }
  lines.push('criteria: (* = in the deciding rule)')
  const deciding = decision.rule
  const rows = trace.map((entry) => {
    const mark = deciding !== undefined && entry.rule === deciding.label && entry.action === deciding.action ? '*' : ' '
    return [mark, entry.matched ? 'matched' : 'no match', entry.criterion.path, entry.criterion.source, entry.reasons.join(', ')]
  })
  const widths = [1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)))
  for (const row of rows) {
    lines.push(`  ${row[0]} ${row[1].padEnd(widths[0])}  ${row[2].padEnd(widths[1])}  ${row[3].padEnd(widths[2])}  ${row[4]}`.trimEnd())
  }
  return lines
}
