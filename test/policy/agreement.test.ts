// evaluate() and explain() must always agree on the verdict (and on the deciding rule),
// for any policy and input. A seeded generator builds a few hundred random policies
// from a small pool of criteria and judges each against random inputs, with and without
// a user. A small reference model of Pomerium's semantics, written here from the rules
// (not from the engine), judges them too; explain() sees every criterion, so its reasons
// must match the model's exactly.

import t from 'tap'
import { parsePolicy, Policy, prepareUser, type PolicyRequest, type PreparedUser, type Verdict } from '../../src/policy/index.js'
import { request } from './helpers.js'

/** mulberry32: small, fast, and the same sequence on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

interface Input {
  req: PolicyRequest
  user: PreparedUser | undefined
}

/** A criterion of the pool: its policy form, and how the reference model judges it. */
interface PoolItem {
  criterion: Record<string, unknown>
  needsUser: boolean
  ok: string
  fail: string
  test(input: Input): boolean
}

/** An IPv4-mapped client address (`::ffff:10.1.2.3`) is the IPv4 address it carries. */
const ipv4 = (ip: string) => ip.replace(/^::ffff:(?=\d+\.)/i, '')

const pool: PoolItem[] = [
  { criterion: { accept: true }, needsUser: false, ok: 'accept', fail: 'accept', test: () => true },
  { criterion: { reject: true }, needsUser: false, ok: 'reject', fail: 'reject', test: () => false },
  { criterion: { authenticated_user: true }, needsUser: true, ok: 'user-ok', fail: 'user-unauthorized', test: () => true },
  { criterion: { email: 'ANN@example.com' }, needsUser: true, ok: 'email-ok', fail: 'email-unauthorized', test: (i) => i.user!.email === 'ann@example.com' },
  {
    criterion: { domain: { ends_with: 'example.com' } },
    needsUser: true,
    ok: 'domain-ok',
    fail: 'domain-unauthorized',
    test: (i) => i.user!.domain?.endsWith('example.com') === true,
  },
  { criterion: { user: { in: ['u1', 'u3'] } }, needsUser: true, ok: 'user-ok', fail: 'user-unauthorized', test: (i) => ['u1', 'u3'].includes(i.user!.id) },
  { criterion: { groups: 'admin' }, needsUser: true, ok: 'groups-ok', fail: 'groups-unauthorized', test: (i) => i.user!.groups.includes('admin') },
  {
    criterion: { groups: { is: 'admin' } },
    needsUser: true,
    ok: 'groups-ok',
    fail: 'groups-unauthorized',
    test: (i) => i.user!.groups.length === 1 && i.user!.groups[0] === 'admin',
  },
  {
    criterion: { 'claim/roles': { exclude: 'guest' } },
    needsUser: true,
    ok: 'claim-ok',
    fail: 'claim-unauthorized',
    test: (i) => {
      // A string claim is a list of one; a missing claim matches nothing.
      const roles = i.user!.claims.roles
      const list = Array.isArray(roles) ? roles : typeof roles === 'string' ? [roles] : undefined
      return list !== undefined && !list.includes('guest')
    },
  },
  {
    criterion: { http_method: { in: ['GET', 'HEAD'] } },
    needsUser: false,
    ok: 'http-method-ok',
    fail: 'http-method-unauthorized',
    test: (i) => ['GET', 'HEAD'].includes(i.req.method),
  },
  {
    criterion: { http_path: { starts_with: '/admin' } },
    needsUser: false,
    ok: 'http-path-ok',
    fail: 'http-path-unauthorized',
    test: (i) => i.req.path.startsWith('/admin'),
  },
  {
    criterion: { source_ip: ['10.0.0.0/8', '2001:db8::/32'] },
    needsUser: false,
    ok: 'source-ip-ok',
    fail: 'source-ip-unauthorized',
    test: (i) => ipv4(i.req.sourceIp).startsWith('10.') || i.req.sourceIp.startsWith('2001:db8:'),
  },
  {
    // Written as IPv4-mapped IPv6, as Pomerium's tests do: it stands for 192.168.0.0/16.
    criterion: { source_ip: '::ffff:192.168.0.0/112' },
    needsUser: false,
    ok: 'source-ip-ok',
    fail: 'source-ip-unauthorized',
    test: (i) => ipv4(i.req.sourceIp).startsWith('192.168.'),
  },
  {
    criterion: { cors_preflight: true },
    needsUser: false,
    ok: 'cors-request',
    fail: 'non-cors-request',
    test: (i) => i.req.method === 'OPTIONS' && i.req.origin !== undefined && i.req.accessControlRequestMethod !== undefined,
  },
  {
    criterion: { day_of_week: 'sat,sun' },
    needsUser: false,
    ok: 'day-of-week-ok',
    fail: 'day-of-week-unauthorized',
    test: (i) => [0, 6].includes(new Date(i.req.time).getUTCDay()),
  },
]

/** Trace entries name their criterion as `key: JSON value`. */
const bySource = new Map(
  pool.map((item) => {
    const [key, value] = Object.entries(item.criterion)[0]
    return [`${key}: ${JSON.stringify(value)}`, item]
  }),
)

const users: (PreparedUser | undefined)[] = [
  undefined,
  prepareUser({ id: 'u1', email: 'ann@example.com', groups: ['admin'], claims: { roles: ['dev'] } }),
  prepareUser({ id: 'u2', email: 'bob@sub.example.com', groups: ['admin', 'ops'], claims: { roles: ['guest', 'dev'] } }),
  prepareUser({ id: 'u3', email: 'carol@other.org', groups: [], claims: {} }),
  prepareUser({ id: 'u4', email: 'dan@example.com@evil.org', groups: ['ops'], claims: { roles: 'dev' } }),
]

type Operator = 'and' | 'or' | 'not' | 'nor'
interface Body {
  [op: string]: number[]
}
interface GenRule {
  label: string
  allow?: Body
  deny?: Body
}

function generate(random: () => number): { raw: unknown; rules: GenRule[] } {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  const body = (): Body => {
    const ops = (['and', 'or', 'not', 'nor'] as const).filter(() => random() < 0.35)
    if (ops.length === 0) ops.push(pick(['and', 'or', 'not', 'nor'] as const))
    const out: Body = {}
    for (const op of ops) out[op] = Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.floor(random() * pool.length))
    return out
  }
  const toRaw = (b: Body) => Object.fromEntries(Object.entries(b).map(([op, items]) => [op, items.map((i) => pool[i].criterion)]))
  const count = random() < 0.05 ? 0 : 1 + Math.floor(random() * 3)
  const single = count === 1 && random() < 0.3
  const rules: GenRule[] = []
  const raws: unknown[] = []
  for (let i = 0; i < count; i++) {
    const label = single ? 'policy' : `policy[${i}]`
    const shape = random()
    if (shape < 0.4) {
      const b = body()
      rules.push({ label, allow: b })
      raws.push({ allow: toRaw(b) })
    } else if (shape < 0.7) {
      const b = body()
      rules.push({ label, deny: b })
      raws.push({ deny: toRaw(b) })
    } else if (shape < 0.85) {
      const a = body()
      const d = body()
      rules.push({ label, allow: a, deny: d })
      raws.push({ allow: toRaw(a), deny: toRaw(d) })
    } else {
      const action = pick(['allow', 'deny'] as const)
      const b = body()
      rules.push({ label, [action]: b })
      raws.push({ action, ...toRaw(b) })
    }
  }
  return { raw: single ? raws[0] : raws, rules }
}

function randomInput(random: () => number): Input {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  const method = pick(['GET', 'POST', 'OPTIONS', 'HEAD'])
  const preflight = method === 'OPTIONS' && random() < 0.7
  return {
    req: request({
      method,
      path: pick(['/', '/admin', '/admin/users', '/public']),
      sourceIp: pick(['10.1.2.3', '192.168.0.1', '2001:db8::1', '::1', '::ffff:10.1.2.3', '::ffff:192.168.0.1']),
      // Monday 5 January 2026 or Saturday 10 January 2026, some hour.
      time: Date.parse(pick(['2026-01-05', '2026-01-10'])) + Math.floor(random() * 24) * 3_600_000,
      origin: preflight || random() < 0.2 ? 'https://web.example.com' : undefined,
      accessControlRequestMethod: preflight ? 'PUT' : undefined,
    }),
    user: pick(users),
  }
}

// ---- the reference model: Pomerium's merge and precedence, spelled out --------------

interface Result {
  value: boolean
  reasons: Set<string>
}
const union = (rs: Result[]) => new Set(rs.flatMap((r) => [...r.reasons]))
const or = (rs: Result[]): Result =>
  rs.some((r) => r.value) ? { value: true, reasons: union(rs.filter((r) => r.value)) } : { value: false, reasons: union(rs) }
const and = (rs: Result[]): Result =>
  rs.every((r) => r.value) ? { value: true, reasons: union(rs) } : { value: false, reasons: union(rs.filter((r) => !r.value)) }
const invert = (r: Result): Result => ({ value: !r.value, reasons: r.reasons })

function criterion(item: PoolItem, input: Input): Result {
  if (item.needsUser && input.user === undefined) return { value: false, reasons: new Set(['user-unauthenticated']) }
  const value = item.test(input)
  return { value, reasons: new Set([value ? item.ok : item.fail]) }
}

function condition(op: Operator, items: number[], input: Input): Result {
  const rs = items.map((i) => criterion(pool[i], input))
  switch (op) {
    case 'and':
      return and(rs)
    case 'or':
      return or(rs)
    case 'not':
      return and(rs.map(invert))
    case 'nor':
      return or(rs.map(invert))
  }
}

function reference(rules: GenRule[], input: Input): { verdict: Verdict; reasons: string[]; rule: string | undefined } {
  const side = (action: 'allow' | 'deny') => {
    const results: Result[] = []
    let first: string | undefined
    for (const rule of rules) {
      for (const [op, items] of Object.entries(rule[action] ?? {})) {
        const r = condition(op as Operator, items, input)
        results.push(r)
        if (r.value) first ??= rule.label
      }
    }
    return { ...or(results), first }
  }
  const deny = side('deny')
  const allow = side('allow')
  const sorted = (s: Set<string>) => [...s].sort()
  if (allow.reasons.has('user-unauthenticated') || deny.reasons.has('user-unauthenticated'))
    return { verdict: 'sign_in', reasons: ['user-unauthenticated'], rule: undefined }
  if (deny.value) return { verdict: 'deny', reasons: sorted(deny.reasons), rule: deny.first }
  if (allow.value) return { verdict: 'allow', reasons: sorted(allow.reasons), rule: allow.first }
  return { verdict: 'deny', reasons: sorted(allow.reasons), rule: undefined }
}

// ---- the comparison ----------------------------------------------------------------

const SEED = 0x9a7e
const POLICIES = 400
const INPUTS_PER_POLICY = 12

t.test(`${POLICIES} random policies, ${INPUTS_PER_POLICY} inputs each (seed ${SEED})`, async (t) => {
  const random = rng(SEED)
  const verdicts = { allow: 0, deny: 0, sign_in: 0 }
  let checked = 0
  const mismatches: string[] = []
  const reasonMismatches: string[] = []
  let evaluateReasonMismatches = 0
  for (let p = 0; p < POLICIES; p++) {
    const { raw, rules } = generate(random)
    const parsed = parsePolicy(raw)
    if ('issues' in parsed) {
      t.fail(`generated policy did not compile: ${JSON.stringify(raw)}: ${parsed.issues[0].message}`)
      continue
    }
    const policy = new Policy(parsed.rules)
    const totalCriteria = parsed.rules.reduce((n, r) => n + r.conditions.reduce((m, c) => m + c.criteria.length, 0), 0)
    for (let i = 0; i < INPUTS_PER_POLICY; i++) {
      // Every policy meets the no-user case and the user cases.
      const input = i === 0 ? { ...randomInput(random), user: undefined } : randomInput(random)
      const evaluated = policy.evaluate({ request: input.req, user: input.user })
      const explained = policy.explain({ request: input.req, user: input.user })
      const want = reference(rules, input)
      checked++
      verdicts[want.verdict]++
      const describe = () => `${JSON.stringify(raw)} with ${JSON.stringify({ ...input.req, user: input.user?.id })}`
      if (evaluated.verdict !== explained.decision.verdict || evaluated.verdict !== want.verdict) {
        mismatches.push(`${describe()}: evaluate ${evaluated.verdict}, explain ${explained.decision.verdict}, model ${want.verdict}`)
      } else if (evaluated.rule?.label !== explained.decision.rule?.label || evaluated.rule?.label !== want.rule) {
        mismatches.push(`${describe()}: rule evaluate ${evaluated.rule?.label}, explain ${explained.decision.rule?.label}, model ${want.rule}`)
      }
      if ([...explained.decision.reasons].sort().join() !== want.reasons.join()) {
        reasonMismatches.push(`${describe()}: explain ${[...explained.decision.reasons].sort()}, model ${want.reasons}`)
      }
      if (!evaluated.reasons.every((r: string) => want.reasons.includes(r))) evaluateReasonMismatches++
      // The trace covers every criterion once, and each entry says what the criterion did.
      if (explained.trace.length !== totalCriteria) mismatches.push(`${describe()}: trace has ${explained.trace.length} entries for ${totalCriteria} criteria`)
      for (const entry of explained.trace) {
        const item = bySource.get(entry.criterion.source)
        if (!item) {
          mismatches.push(`${describe()}: trace entry for an unknown criterion ${entry.criterion.source}`)
          continue
        }
        const own = criterion(item, input)
        if (entry.matched !== own.value || entry.reasons.join() !== [...own.reasons].join()) {
          mismatches.push(`${describe()}: trace says ${entry.criterion.source} ${entry.matched} ${entry.reasons}, model ${own.value} ${[...own.reasons]}`)
        }
      }
    }
  }
  t.strictSame(mismatches.slice(0, 10), [], `verdicts, rules and traces agree (${mismatches.length} mismatches)`)
  t.strictSame(reasonMismatches.slice(0, 10), [], `explain() reasons match the model (${reasonMismatches.length} mismatches)`)
  // evaluate() stops once the verdict is settled; its reasons are the ones that settled
  // it, always a subset of the full merge.
  t.equal(evaluateReasonMismatches, 0, "evaluate() reasons are a subset of the model's")
  t.equal(checked, POLICIES * INPUTS_PER_POLICY)
  // The generator reaches every verdict often enough for the comparison to mean something.
  for (const [verdict, n] of Object.entries(verdicts)) t.ok(n > checked / 20, `${verdict}: ${n} of ${checked}`)
})

t.test('the model agrees with hand-written cases', async (t) => {
  // Guards the reference itself: not vs nor, and sign-in rules.
  const anon: Input = { req: request(), user: undefined }
  const idx = (name: string) => pool.findIndex((c) => Object.keys(c.criterion)[0] === name)
  t.equal(reference([{ label: 'policy', allow: { or: [idx('accept'), idx('email')] } }], anon).verdict, 'allow')
  t.equal(reference([{ label: 'policy', allow: { and: [idx('accept'), idx('email')] } }], anon).verdict, 'sign_in')
  t.equal(reference([{ label: 'policy', allow: { not: [idx('accept'), idx('reject')] } }], anon).verdict, 'deny')
  t.equal(reference([{ label: 'policy', allow: { nor: [idx('accept'), idx('reject')] } }], anon).verdict, 'allow')
  t.equal(reference([], anon).verdict, 'deny')
})
