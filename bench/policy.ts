// Policy micro-benchmark: decisions per second for a 20-rule policy mixing claims,
// groups, paths and CIDRs (one core), and the time to compile 1,000 routes' policies.

import { parsePolicy, Policy, prepareUser, type PolicyInput, type PolicyRequest, type Rule } from '../src/policy/index.js'

/** 20 rules: 5 deny, 15 allow; claims, groups, paths, CIDRs, methods, and/or/not. */
export function benchPolicy(variant = 0): unknown[] {
  const v = (s: string) => `${s}${variant}`
  return [
    { deny: { and: [{ http_path: { starts_with: '/admin' } }, { groups: { exclude: v('admins') } }] } },
    { deny: { or: [{ source_ip: ['203.0.113.0/24', '198.51.100.0/24', '2001:db8:dead::/48'] }] } },
    { deny: { or: [{ 'claim/https://example.com/roles': 'suspended' }] } },
    { deny: { and: [{ http_method: { in: ['DELETE', 'PUT'] } }, { groups: { exclude: v('writers') } }] } },
    { deny: { and: [{ http_path: { starts_with: '/billing' } }, { 'claim/amr': { exclude: 'mfa' } }] } },
    { allow: { and: [{ groups: { has: v('admins') } }, { source_ip: ['10.0.0.0/8', '192.168.0.0/16'] }] } },
    { allow: { and: [{ http_path: { starts_with: '/api/reports' } }, { 'claim/https://example.com/roles': { has: 'analyst' } }] } },
    { allow: { and: [{ http_path: { starts_with: '/api/orders' } }, { groups: { has: v('sales') } }] } },
    { allow: { and: [{ http_path: { starts_with: '/api/inventory' } }, { groups: { has: v('warehouse') } }] } },
    { allow: { and: [{ http_path: { starts_with: '/wiki' } }, { domain: { is: 'example.com' } }] } },
    { allow: { and: [{ http_path: { is: '/healthz' } }, { source_ip: '10.0.0.0/8' }] } },
    { allow: { or: [{ email: { in: ['ceo@example.com', 'cto@example.com', 'cfo@example.com'] } }] } },
    { allow: { and: [{ http_path: { starts_with: '/grafana' } }, { groups: { has: v('sre') } }] } },
    { allow: { and: [{ http_path: { starts_with: '/kasm' } }, { 'claim/auth0/roles': { has: 'Kasm Premium' } }] } },
    { allow: { and: [{ http_method: { in: ['GET', 'HEAD'] } }, { http_path: { starts_with: '/docs' } }] } },
    { allow: { and: [{ http_path: { starts_with: '/ci' } }, { groups: { has: v('developers') } }, { source_ip: '10.20.0.0/16' }] } },
    { allow: { and: [{ http_path: { starts_with: '/vpn' } }, { 'claim/amr': 'mfa' }] } },
    { allow: { not: [{ http_path: { starts_with: '/internal' } }, { http_path: { starts_with: '/private' } }], and: [{ groups: { has: v('staff') } }] } },
    { allow: { and: [{ http_path: { starts_with: '/support' } }, { groups: { has: v('support') } }] } },
    { allow: { or: [{ 'claim/department': { is: 'engineering' } }, { groups: { has: v('contractors') } }] } },
  ]
}

function compile(raw: unknown): Policy {
  const parsed = parsePolicy(raw)
  if ('issues' in parsed) throw new Error(parsed.issues.map((i) => `${i.path}: ${i.message}`).join('\n'))
  return new Policy(parsed.rules as Rule[])
}

const request = (path: string, method = 'GET', sourceIp = '10.20.3.4'): PolicyRequest => ({
  method,
  path,
  host: 'app.example.com',
  sourceIp,
  time: Date.now(),
  origin: undefined,
  accessControlRequestMethod: undefined,
})

export function benchDecisions(): string {
  const policy = compile(benchPolicy())
  const dev = prepareUser({ id: 'u1', email: 'dev@example.com', groups: ['developers0', 'staff0'], claims: { amr: ['pwd', 'mfa'], department: 'engineering' } })
  const analyst = prepareUser({ id: 'u2', email: 'ann@example.com', groups: ['sales0'], claims: { 'https://example.com/roles': ['analyst'] } })
  const outsider = prepareUser({ id: 'u3', email: 'eve@other.org', groups: [], claims: {} })
  const inputs: PolicyInput[] = [
    { request: request('/ci/job/42'), user: dev },
    { request: request('/api/reports/q3'), user: analyst },
    { request: request('/admin/users'), user: analyst },
    { request: request('/wiki/home'), user: outsider },
    { request: request('/docs/start'), user: undefined },
    { request: request('/grafana', 'GET', '203.0.113.9'), user: dev },
    { request: request('/support/ticket/7'), user: dev },
    { request: request('/billing/invoices'), user: analyst },
  ]
  const verdicts = inputs.map((input) => policy.evaluate(input).verdict)
  const run = (n: number) => {
    let allowed = 0
    for (let i = 0; i < n; i++) if (policy.evaluate(inputs[i & 7]).verdict === 'allow') allowed++
    return allowed
  }
  run(500_000)
  const n = 5_000_000
  const started = performance.now()
  run(n)
  const seconds = (performance.now() - started) / 1000
  return `  ${(n / seconds / 1e6).toFixed(2)} M decisions/s (20 rules, 8 requests rotating: ${verdicts.join(', ')})`
}

/** Compiling, and the first decision of each, since a policy generates its evaluator
 *  when it first judges a request. */
export function benchCompile(): string {
  const input: PolicyInput = { request: request('/wiki/home'), user: undefined }
  const started = performance.now()
  for (let i = 0; i < 1000; i++) compile(benchPolicy(i)).evaluate(input)
  const ms = performance.now() - started
  return `  compile 1,000 routes' 20-rule policies and judge one request with each: ${ms.toFixed(0)} ms`
}
