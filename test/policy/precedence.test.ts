// How criteria combine: and/or/not/nor with Pomerium's reason merging, rules and their
// order, the flat {action: ...} form, sign-in versus deny, empty policies, and the legacy
// route fields. Every row is judged by evaluate() and by explain().

import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { legacyRules, Policy, type LegacyFields } from '../../src/policy/index.js'
import { writeConfigDir } from '../helpers/gatehouse.js'
import { compile, judge, request, runTable, user, type Row, type UserName } from './helpers.js'

const GET = 'http_method: GET'
const POST = 'http_method: POST'

t.test('and / or / not / nor', async (t) => {
  runTable(t, [
    // or: true with the reasons of the true ones, else all reasons.
    { name: 'or, one of two matches', policy: `allow: {or: [{${POST}}, {http_path: /}]}`, verdict: 'allow', reasons: ['http-path-ok'], rule: 'policy' },
    {
      name: 'or, none matches',
      policy: `allow: {or: [{${POST}}, {http_path: /x}]}`,
      verdict: 'deny',
      reasons: ['http-method-unauthorized', 'http-path-unauthorized'],
      rule: null,
    },
    // and: true with all reasons, else the reasons of the false ones.
    { name: 'and, all match', policy: `allow: {and: [{${GET}}, {http_path: /}]}`, verdict: 'allow', reasons: ['http-method-ok', 'http-path-ok'] },
    { name: 'and, one fails (no user)', policy: `allow: {and: [{${GET}}, {http_path: /x}]}`, verdict: 'deny', reasons: ['http-path-unauthorized'] },
    { name: 'and, one fails (user)', policy: `allow: {and: [{${GET}}, {http_path: /x}]}`, user: 'ann', verdict: 'deny', reasons: ['http-path-unauthorized'] },
    // not: none may match.
    {
      name: 'not, none matches',
      policy: `allow: {not: [{${POST}}, {http_path: /x}]}`,
      verdict: 'allow',
      reasons: ['http-method-unauthorized', 'http-path-unauthorized'],
    },
    { name: 'not, one of two matches', policy: `allow: {not: [{${POST}}, {http_path: /}]}`, verdict: 'deny', reasons: ['http-path-ok'] },
    { name: 'not, both match', policy: `allow: {not: [{${GET}}, {http_path: /}]}`, verdict: 'deny' },
    { name: 'not of one', policy: 'allow: {not: [{http_path: /admin}]}', req: { path: '/admin' }, verdict: 'deny', reasons: ['http-path-ok'] },
    { name: 'not of reject', policy: 'allow: {not: [{reject: true}]}', verdict: 'allow', reasons: ['reject'] },
    // nor: not all may match (Pomerium's nor).
    { name: 'nor, one of two matches', policy: `allow: {nor: [{${POST}}, {http_path: /}]}`, verdict: 'allow', reasons: ['http-method-unauthorized'] },
    { name: 'nor, none matches', policy: `allow: {nor: [{${POST}}, {http_path: /x}]}`, verdict: 'allow' },
    { name: 'nor, both match', policy: `allow: {nor: [{${GET}}, {http_path: /}]}`, verdict: 'deny', reasons: ['http-method-ok', 'http-path-ok'] },
    { name: 'nor of one (= not of one)', policy: 'allow: {nor: [{http_path: /admin}]}', req: { path: '/admin' }, verdict: 'deny', reasons: ['http-path-ok'] },
    { name: 'nor of accept', policy: 'allow: {nor: [{accept: true}]}', verdict: 'deny', reasons: ['accept'] },
    // The same two criteria under not and nor, where the two differ.
    {
      name: 'not [admin group, /admin] on /public: allow',
      policy: 'allow: {not: [{groups: admin}, {http_path: /admin}]}',
      user: 'bob',
      req: { path: '/public' },
      verdict: 'deny',
      reasons: ['groups-ok'],
    },
    {
      name: 'nor [admin group, /admin] on /public: allow',
      policy: 'allow: {nor: [{groups: admin}, {http_path: /admin}]}',
      user: 'bob',
      req: { path: '/public' },
      verdict: 'allow',
      reasons: ['http-path-unauthorized'],
    },
    {
      name: 'not [admin group, /admin] for a non-admin on /public',
      policy: 'allow: {not: [{groups: admin}, {http_path: /admin}]}',
      user: 'bare',
      req: { path: '/public' },
      verdict: 'allow',
      reasons: ['groups-unauthorized', 'http-path-unauthorized'],
    },
    {
      name: 'nor [admin group, /admin] for an admin on /admin',
      policy: 'allow: {nor: [{groups: admin}, {http_path: /admin}]}',
      user: 'bob',
      req: { path: '/admin' },
      verdict: 'deny',
      reasons: ['groups-ok', 'http-path-ok'],
    },
    // Several operators in one rule: any of them matching is enough.
    { name: 'and + or in one rule, only or holds', policy: `allow: {and: [{${POST}}], or: [{http_path: /}]}`, verdict: 'allow', reasons: ['http-path-ok'] },
    {
      name: 'and + or in one rule, neither holds',
      policy: `allow: {and: [{${POST}}], or: [{http_path: /x}]}`,
      verdict: 'deny',
      reasons: ['http-method-unauthorized', 'http-path-unauthorized'],
    },
    {
      name: 'all four operators, only nor holds',
      policy: `allow: {and: [{reject: true}], or: [{reject: true}], not: [{accept: true}], nor: [{reject: true}]}`,
      verdict: 'allow',
      reasons: ['reject'],
    },
    { name: 'an empty operator list adds nothing', policy: 'allow: {or: [], and: [{accept: true}]}', verdict: 'allow', reasons: ['accept'] },
  ])
})

t.test('rules and their order', async (t) => {
  runTable(t, [
    {
      name: 'a list of rules: the first matching allow rule is named',
      policy: `[{allow: {or: [{${POST}}]}}, {allow: {or: [{http_path: /}]}}, {allow: {or: [{accept: true}]}}]`,
      user: 'ann',
      verdict: 'allow',
      rule: 'policy[1]',
    },
    {
      name: 'deny beats allow',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {or: [{http_path: /}]}}]`,
      user: 'ann',
      verdict: 'deny',
      reasons: ['http-path-ok'],
      rule: 'policy[1]',
    },
    {
      name: 'deny beats allow, no user',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {or: [{http_path: /}]}}]`,
      verdict: 'deny',
      reasons: ['http-path-ok'],
      rule: 'policy[1]',
    },
    {
      name: 'a deny that does not match leaves the allow',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {or: [{http_path: /admin}]}}]`,
      user: 'ann',
      verdict: 'allow',
      reasons: ['accept'],
      rule: 'policy[0]',
    },
    {
      name: 'allow and deny in one rule, deny matches',
      policy: `allow: {or: [{accept: true}]}\ndeny: {or: [{${GET}}]}`,
      verdict: 'deny',
      reasons: ['http-method-ok'],
      rule: 'policy',
    },
    {
      name: 'the first matching deny rule is named',
      policy: `[{deny: {or: [{reject: true}]}}, {deny: {or: [{${GET}}]}}, {deny: {or: [{accept: true}]}}]`,
      user: 'ann',
      verdict: 'deny',
      rule: 'policy[1]',
    },
    { name: 'only deny rules: nothing allows', policy: `deny: {or: [{${POST}}]}`, user: 'ann', verdict: 'deny', reasons: [], rule: null },
    { name: 'flat form, allow', policy: `{action: allow, or: [{${GET}}]}`, verdict: 'allow', reasons: ['http-method-ok'], rule: 'policy' },
    {
      name: 'flat form, deny',
      policy: `[{action: allow, or: [{accept: true}]}, {action: deny, and: [{${GET}}, {http_path: /}]}]`,
      verdict: 'deny',
      reasons: ['http-method-ok', 'http-path-ok'],
      rule: 'policy[1]',
    },
    {
      name: 'flat form with several operators',
      policy: `{action: allow, and: [{reject: true}], nor: [{${POST}}]}`,
      verdict: 'allow',
      reasons: ['http-method-unauthorized'],
    },
    { name: 'a rule with no conditions never matches', policy: 'allow: {}', verdict: 'deny', reasons: [], rule: null },
  ])
})

t.test('empty policies deny', async (t) => {
  for (const [name, source] of [
    ['null', null],
    ['an empty list', []],
    ['an empty list in YAML', '[]'],
    ['an empty YAML document', ''],
  ] as const) {
    for (const who of [undefined, 'ann'] as const) {
      t.test(`${name} [${who ?? 'no user'}]`, async (t) => {
        const got = judge(compile(source), request(), user(who))
        t.strictSame(got.evaluate, { verdict: 'deny', reasons: [], rule: undefined })
        t.strictSame(got.explain, { verdict: 'deny', reasons: [], rule: undefined })
      })
    }
  }
})

t.test('sign-in versus deny', async (t) => {
  const signIn = { verdict: 'sign_in', reasons: ['user-unauthenticated'], rule: null } as const
  runTable(t, [
    {
      name: 'or: accept first, then a user criterion',
      policy: 'allow: {or: [{accept: true}, {email: ann@example.com}]}',
      verdict: 'allow',
      reasons: ['accept'],
      rule: 'policy',
    },
    {
      name: 'or: a user criterion, then accept',
      policy: 'allow: {or: [{email: ann@example.com}, {accept: true}]}',
      verdict: 'allow',
      reasons: ['accept'],
      rule: 'policy',
    },
    { name: 'or: a user criterion and a failing request criterion', policy: `allow: {or: [{${POST}}, {email: ann@example.com}]}`, ...signIn },
    { name: 'and: accept and a user criterion', policy: 'allow: {and: [{accept: true}, {email: ann@example.com}]}', ...signIn },
    { name: 'and: a failing request criterion still needs the user', policy: `allow: {and: [{${POST}}, {groups: admin}]}`, ...signIn },
    { name: 'not: of a user criterion', policy: 'allow: {not: [{email: ann@example.com}]}', ...signIn },
    {
      name: 'not: a matching criterion hides the user criterion',
      policy: 'allow: {not: [{accept: true}, {email: ann@example.com}]}',
      verdict: 'deny',
      reasons: ['accept'],
      rule: null,
    },
    { name: 'nor: of a user criterion and accept', policy: 'allow: {nor: [{email: ann@example.com}, {accept: true}]}', ...signIn },
    // nor is true with the reasons of every criterion that did not match: the email one too.
    {
      name: 'nor: a non-matching request criterion does not hide the user criterion',
      policy: `allow: {nor: [{email: ann@example.com}, {${POST}}]}`,
      ...signIn,
    },
    { name: 'nor: a matching request criterion does not hide it either', policy: `allow: {nor: [{${GET}}, {email: ann@example.com}]}`, ...signIn },
    { name: 'a deny rule that needs a user', policy: `[{allow: {or: [{accept: true}]}}, {deny: {or: [{email: mallory@example.com}]}}]`, ...signIn },
    {
      name: 'a deny rule that needs a user, with the user',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {or: [{email: mallory@example.com}]}}]`,
      user: 'ann',
      verdict: 'allow',
      reasons: ['accept'],
      rule: 'policy[0]',
    },
    {
      name: 'a deny and-rule whose request part fails still needs the user',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {and: [{http_path: /admin}, {groups: {exclude: admin}}]}}]`,
      ...signIn,
    },
    {
      name: 'a deny and-rule, with an admin user',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {and: [{http_path: /admin}, {groups: {exclude: admin}}]}}]`,
      user: 'bob',
      req: { path: '/admin' },
      verdict: 'allow',
      rule: 'policy[0]',
    },
    {
      name: 'a deny and-rule, with a non-admin user',
      policy: `[{allow: {or: [{accept: true}]}}, {deny: {and: [{http_path: /admin}, {groups: {exclude: admin}}]}}]`,
      user: 'bare',
      req: { path: '/admin' },
      verdict: 'deny',
      reasons: ['http-path-ok', 'groups-ok'],
      rule: 'policy[1]',
    },
    {
      name: 'a matching deny rule next to an allow rule that needs a user',
      policy: `[{deny: {or: [{http_path: /admin}]}}, {allow: {or: [{groups: admin}]}}]`,
      req: { path: '/admin' },
      ...signIn,
    },
    {
      name: 'a matching deny rule and another deny rule that needs a user',
      policy: `[{deny: {or: [{http_path: /admin}]}}, {deny: {or: [{groups: admin}]}}, {allow: {or: [{accept: true}]}}]`,
      req: { path: '/admin' },
      verdict: 'deny',
      reasons: ['http-path-ok'],
      rule: 'policy[0]',
    },
    {
      name: 'a matching allow rule and another allow rule that needs a user',
      policy: `[{allow: {or: [{groups: admin}]}}, {allow: {or: [{accept: true}]}}]`,
      verdict: 'allow',
      reasons: ['accept'],
      rule: 'policy[1]',
    },
    {
      name: 'a deny rule on another path hides nothing',
      policy: `[{deny: {or: [{http_path: /admin}]}}, {allow: {or: [{accept: true}]}}]`,
      verdict: 'allow',
      reasons: ['accept'],
      rule: 'policy[1]',
    },
    { name: 'a user is never asked to sign in', policy: 'allow: {and: [{email: nobody@example.com}, {groups: nobody}]}', user: 'ann', verdict: 'deny' },
    {
      name: 'authenticated_user under not, with a user',
      policy: 'allow: {not: [{authenticated_user: true}]}',
      user: 'ann',
      verdict: 'deny',
      reasons: ['user-ok'],
    },
  ])
})

t.test('legacy route fields', async (t) => {
  const legacy = (fields: LegacyFields) => new Policy(legacyRules(fields, 'routes[0].allowed_*'))
  const cases: { name: string; fields: LegacyFields; user?: UserName; req?: Parameters<typeof request>[0]; verdict: string; reasons?: string[] }[] = [
    { name: 'no fields: deny', fields: {}, user: 'ann', verdict: 'deny', reasons: [] },
    { name: 'public access', fields: { allow_public_unauthenticated_access: true }, verdict: 'allow', reasons: ['accept'] },
    { name: 'public access: false', fields: { allow_public_unauthenticated_access: false }, verdict: 'deny' },
    { name: 'any authenticated user, none', fields: { allow_any_authenticated_user: true }, verdict: 'sign_in', reasons: ['user-unauthenticated'] },
    { name: 'any authenticated user, one', fields: { allow_any_authenticated_user: true }, user: 'mallory', verdict: 'allow', reasons: ['user-ok'] },
    { name: 'allowed_users by id', fields: { allowed_users: ['u-bob'] }, user: 'bob', verdict: 'allow', reasons: ['user-ok'] },
    { name: 'allowed_users by email, any case', fields: { allowed_users: ['ANN@example.com'] }, user: 'ann', verdict: 'allow', reasons: ['email-ok'] },
    {
      name: 'allowed_users, someone else',
      fields: { allowed_users: ['u-bob', 'bob@example.org'] },
      user: 'ann',
      verdict: 'deny',
      reasons: ['user-unauthorized', 'email-unauthorized'],
    },
    { name: 'allowed_users, no user', fields: { allowed_users: ['u-bob'] }, verdict: 'sign_in' },
    { name: 'allowed_domains', fields: { allowed_domains: ['example.org', 'example.com'] }, user: 'ann', verdict: 'allow', reasons: ['domain-ok'] },
    { name: 'allowed_domains, two @', fields: { allowed_domains: ['example.com'] }, user: 'mallory', verdict: 'deny', reasons: ['domain-unauthorized'] },
    { name: 'allowed_groups', fields: { allowed_groups: ['ops', 'dev'] }, user: 'ann', verdict: 'allow', reasons: ['groups-ok'] },
    { name: 'allowed_groups, none in common', fields: { allowed_groups: ['ops'] }, user: 'ann', verdict: 'deny', reasons: ['groups-unauthorized'] },
    {
      name: 'allowed_idp_claims, one of the values',
      fields: { allowed_idp_claims: { roles: ['owner', 'viewer'] } },
      user: 'ann',
      verdict: 'allow',
      reasons: ['claim-ok'],
    },
    { name: 'allowed_idp_claims, string claim', fields: { allowed_idp_claims: { roles: ['editor'] } }, user: 'bob', verdict: 'allow', reasons: ['claim-ok'] },
    {
      name: 'allowed_idp_claims, namespaced',
      fields: { allowed_idp_claims: { 'https://example.com/roles': ['billing'] } },
      user: 'ann',
      verdict: 'allow',
      reasons: ['claim-ok'],
    },
    {
      name: 'allowed_idp_claims, missing claim',
      fields: { allowed_idp_claims: { missing: ['x'] } },
      user: 'ann',
      verdict: 'deny',
      reasons: ['claim-unauthorized'],
    },
    {
      name: 'cors_allow_preflight, preflight without a user',
      fields: { cors_allow_preflight: true, allowed_groups: ['admin'] },
      req: { method: 'OPTIONS', origin: 'https://x', accessControlRequestMethod: 'GET' },
      verdict: 'allow',
      reasons: ['cors-request'],
    },
    { name: 'cors_allow_preflight, GET without a user', fields: { cors_allow_preflight: true, allowed_groups: ['admin'] }, verdict: 'sign_in' },
    { name: 'cors_allow_preflight alone, GET', fields: { cors_allow_preflight: true }, user: 'ann', verdict: 'deny', reasons: ['non-cors-request'] },
    {
      name: 'fields are OR-ed: groups miss, domain hits',
      fields: { allowed_groups: ['ops'], allowed_domains: ['example.org'] },
      user: 'bob',
      verdict: 'allow',
      reasons: ['domain-ok'],
    },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const got = judge(legacy(c.fields), request(c.req), user(c.user))
      for (const kind of ['evaluate', 'explain'] as const) {
        t.equal(got[kind].verdict, c.verdict, `${kind}() verdict`)
        if (c.reasons) t.strictSame(got[kind].reasons, [...c.reasons].sort(), `${kind}() reasons`)
        if (c.verdict === 'allow') t.equal(got[kind].rule, 'routes[0].allowed_*', `${kind}() rule`)
      }
    })
  }

  t.test('legacy fields are one allow rule of OR-ed criteria', async (t) => {
    const rules = legacyRules({ allow_any_authenticated_user: true, allowed_users: ['a'], allowed_groups: ['g'], allowed_idp_claims: { c: ['1', '2'] } }, 'L')
    t.equal(rules.length, 1)
    t.equal(rules[0].action, 'allow')
    t.equal(rules[0].label, 'L')
    t.strictSame(
      rules[0].conditions.map((c) => c.operator),
      ['or'],
    )
    t.strictSame(
      rules[0].conditions[0].criteria.map((c) => c.name),
      ['authenticated_user', 'user', 'email', 'groups', 'claim/c', 'claim/c'],
    )
    t.strictSame(legacyRules({}, 'L'), [])
  })

  t.test('a policy deny rule still wins over legacy fields', async (t) => {
    const policy = new Policy([...compile('deny: {or: [{http_path: /admin}]}').rules, ...legacyRules({ allow_public_unauthenticated_access: true }, 'L')])
    t.equal(judge(policy, request({ path: '/admin' }), undefined).evaluate.verdict, 'deny')
    t.equal(judge(policy, request({ path: '/' }), undefined).evaluate.verdict, 'allow')
  })
})

// Reasons as Pomerium merges them, for inputs where evaluate() may stop before it has
// seen every criterion. explain() sees everything; evaluate() should report the same.
t.test('reasons follow Pomerium merging in evaluate() too', async (t) => {
  const rows: Row[] = [
    {
      name: 'and with two failures, user present',
      policy: `allow: {and: [{${POST}}, {http_path: /x}]}`,
      user: 'ann',
      verdict: 'deny',
      reasons: ['http-method-unauthorized', 'http-path-unauthorized'],
    },
    { name: 'or with two matches', policy: `allow: {or: [{${GET}}, {http_path: /}]}`, verdict: 'allow', reasons: ['http-method-ok', 'http-path-ok'] },
    { name: 'not with two matches', policy: `allow: {not: [{${GET}}, {http_path: /}]}`, verdict: 'deny', reasons: ['http-method-ok', 'http-path-ok'] },
    {
      name: 'nor with two non-matches, user present',
      policy: `allow: {nor: [{${POST}}, {http_path: /x}]}`,
      user: 'ann',
      verdict: 'allow',
      reasons: ['http-method-unauthorized', 'http-path-unauthorized'],
    },
    {
      name: 'two matching allow rules, user present',
      policy: `[{allow: {or: [{${GET}}]}}, {allow: {or: [{accept: true}]}}]`,
      user: 'ann',
      verdict: 'allow',
      reasons: ['accept', 'http-method-ok'],
      rule: 'policy[0]',
    },
  ]
  // evaluate() stops once the verdict is settled, so it reports the reasons that settled
  // it: never more than explain(), never none where explain() has some.
  for (const row of rows) {
    t.test(row.name, async (t) => {
      const got = judge(compile(row.policy), request(row.req), user(row.user))
      t.equal(got.evaluate.verdict, row.verdict)
      t.equal(got.explain.verdict, row.verdict)
      t.strictSame(got.explain.reasons, [...row.reasons!].sort(), 'explain() reasons')
      t.ok(got.evaluate.reasons.length > 0, 'evaluate() names at least one reason')
      t.ok(
        got.evaluate.reasons.every((r: string) => row.reasons!.includes(r)),
        'evaluate() reasons are a subset of explain()',
      )
    })
  }
})

t.test("a route's policy and legacy fields, as loadConfig compiles them", async (t) => {
  const written = writeConfigDir({
    config: [
      'routes:',
      '  - from: http://a.example.com',
      '    to: http://127.0.0.1:9000',
      '    allowed_users: [u-bare]',
      '    allowed_domains: [example.org]',
      '    allowed_idp_claims:',
      '      amr: mfa',
      '      https://example.com/roles: [billing]',
      '    policy:',
      '      - deny: {or: [{http_path: {starts_with: /admin}}]}',
      '      - allow: {and: [{groups: admin}, {http_method: GET}]}',
      '',
    ].join('\n'),
  })
  t.teardown(written.cleanup)
  const config = await loadConfig(written.configFile, { env: {} })
  const policy = config.routes[0].policy
  const verdict = (who: UserName | undefined, over: Parameters<typeof request>[0] = {}) => {
    const got = judge(policy, request(over), user(who))
    t.equal(got.explain.verdict, got.evaluate.verdict)
    return got.evaluate
  }
  t.equal(verdict(undefined).verdict, 'sign_in')
  t.equal(verdict('bare').verdict, 'allow', 'allowed_users by id')
  t.equal(verdict('bob').verdict, 'allow', 'allowed_domains, or the policy (admin + GET)')
  t.equal(verdict('bob', { method: 'POST' }).verdict, 'allow', 'allowed_domains alone')
  t.match(verdict('ann'), { verdict: 'allow', rule: 'routes[0].policy[1]' }, 'the policy rule comes first')
  t.match(verdict('ann', { method: 'POST' }), { verdict: 'allow', reasons: ['claim-ok'] }, 'allowed_idp_claims (a string claim and a namespaced one)')
  t.match(verdict('mallory'), { verdict: 'deny', rule: undefined })
  t.match(verdict('ann', { path: '/admin/x' }), { verdict: 'deny', rule: 'routes[0].policy[0]' }, 'the deny rule wins over legacy fields')
  t.equal(verdict(undefined, { path: '/admin' }).verdict, 'sign_in', 'without a user the legacy fields still ask for a sign-in')
})
