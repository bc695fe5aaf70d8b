// Every criterion and every matcher operator, one table row each: a policy with one
// allow rule holding the criterion, an input, and the verdict and reasons expected from
// both evaluate() and explain(). Time criteria have their own file (time.test.ts).

import t from 'tap'
import { findClaim } from '../../src/policy/index.js'
import { allowOne, compile, prepareUser, request, runTable, type Row } from './helpers.js'

/** allow with [ok] when the criterion matches, deny with [fail] when it does not. */
const yes = (ok: string): Pick<Row, 'verdict' | 'reasons' | 'rule'> => ({ verdict: 'allow', reasons: [ok], rule: 'policy' })
const no = (fail: string): Pick<Row, 'verdict' | 'reasons' | 'rule'> => ({ verdict: 'deny', reasons: [fail], rule: null })
const signIn: Pick<Row, 'verdict' | 'reasons' | 'rule'> = { verdict: 'sign_in', reasons: ['user-unauthenticated'], rule: null }

t.test('accept and reject', async (t) => {
  runTable(t, [
    { name: 'accept allows without a user', policy: allowOne('accept: true'), ...yes('accept') },
    { name: 'accept allows with a user', policy: allowOne('accept: true'), user: 'ann', ...yes('accept') },
    { name: 'reject never matches', policy: allowOne('reject: true'), user: 'ann', ...no('reject') },
    { name: 'reject without a user denies (no sign-in)', policy: allowOne('reject: true'), ...no('reject') },
    { name: 'deny: reject is no deny', policy: 'allow: {or: [{accept: true}]}\ndeny: {or: [{reject: true}]}', ...yes('accept') },
    // Pomerium's own tests write 1 for true.
    { name: 'accept: 1 is accept: true', policy: allowOne('accept: 1'), ...yes('accept') },
    { name: 'reject: 1 is reject: true', policy: allowOne('reject: 1'), user: 'ann', ...no('reject') },
  ])
})

t.test('authenticated_user', async (t) => {
  runTable(t, [
    { name: 'any user passes', policy: allowOne('authenticated_user: true'), user: 'bare', ...yes('user-ok') },
    { name: 'a user with a bad email still passes', policy: allowOne('authenticated_user: true'), user: 'mallory', ...yes('user-ok') },
    { name: 'no user asks for a sign-in', policy: allowOne('authenticated_user: true'), ...signIn },
    { name: 'authenticated_user: 1 is true, with a user', policy: allowOne('authenticated_user: 1'), user: 'bare', ...yes('user-ok') },
    { name: 'authenticated_user: 1 is true, without one', policy: allowOne('authenticated_user: 1'), ...signIn },
  ])
})

t.test('email (string matcher, case-insensitive)', async (t) => {
  runTable(t, [
    { name: 'bare scalar is `is`, any case on either side', policy: allowOne('email: ann@example.com'), user: 'ann', ...yes('email-ok') },
    { name: 'upper-case policy value', policy: allowOne('email: ANN@EXAMPLE.COM'), user: 'ann', ...yes('email-ok') },
    { name: 'is, other user', policy: allowOne('email: {is: ann@example.com}'), user: 'bob', ...no('email-unauthorized') },
    { name: 'is_not', policy: allowOne('email: {is_not: ann@example.com}'), user: 'bob', ...yes('email-ok') },
    { name: 'is_not, same address in other case', policy: allowOne('email: {is_not: ANN@example.com}'), user: 'ann', ...no('email-unauthorized') },
    { name: '`not` is a synonym of is_not', policy: allowOne('email: {not: ann@example.com}'), user: 'ann', ...no('email-unauthorized') },
    { name: '`not` (other address)', policy: allowOne('email: {not: ann@example.com}'), user: 'bob', ...yes('email-ok') },
    { name: 'starts_with', policy: allowOne('email: {starts_with: ANN@}'), user: 'ann', ...yes('email-ok') },
    { name: 'ends_with', policy: allowOne('email: {ends_with: "@example.com"}'), user: 'ann', ...yes('email-ok') },
    { name: 'ends_with, other domain', policy: allowOne('email: {ends_with: "@example.com"}'), user: 'bob', ...no('email-unauthorized') },
    { name: 'contains', policy: allowOne('email: {contains: "n@ex"}'), user: 'ann', ...yes('email-ok') },
    { name: 'in', policy: allowOne('email: {in: [bob@example.org, Ann@example.com]}'), user: 'ann', ...yes('email-ok') },
    { name: 'in, absent', policy: allowOne('email: {in: [bob@example.org]}'), user: 'ann', ...no('email-unauthorized') },
    { name: 'not_in', policy: allowOne('email: {not_in: [BOB@example.org]}'), user: 'ann', ...yes('email-ok') },
    { name: 'not_in, present in other case', policy: allowOne('email: {not_in: [BOB@example.org]}'), user: 'bob', ...no('email-unauthorized') },
    { name: 'several operators must all hold', policy: allowOne('email: {starts_with: ann, ends_with: example.com}'), user: 'ann', ...yes('email-ok') },
    { name: 'several operators, one fails', policy: allowOne('email: {starts_with: ann, ends_with: example.org}'), user: 'ann', ...no('email-unauthorized') },
    { name: 'two @: is the whole string', policy: allowOne('email: mallory@evil.com@example.com'), user: 'mallory', ...no('email-unauthorized') },
    { name: 'two @: ends_with the trusted domain', policy: allowOne('email: {ends_with: "@example.com"}'), user: 'mallory', ...no('email-unauthorized') },
    { name: 'two @: not even is_not matches', policy: allowOne('email: {is_not: nobody@example.com}'), user: 'mallory', ...no('email-unauthorized') },
    { name: 'no email: not_in does not match', policy: allowOne('email: {not_in: [x@example.com]}'), user: 'bare', ...no('email-unauthorized') },
    { name: 'no user asks for a sign-in', policy: allowOne('email: ann@example.com'), ...signIn },
  ])
})

t.test('domain (string matcher, case-insensitive)', async (t) => {
  runTable(t, [
    { name: 'bare scalar', policy: allowOne('domain: example.com'), user: 'ann', ...yes('domain-ok') },
    { name: 'upper-case policy value', policy: allowOne('domain: {is: EXAMPLE.com}'), user: 'ann', ...yes('domain-ok') },
    { name: 'another domain', policy: allowOne('domain: example.com'), user: 'bob', ...no('domain-unauthorized') },
    { name: 'a subdomain is another domain', policy: allowOne('domain: sub.example.com'), user: 'ann', ...no('domain-unauthorized') },
    { name: 'ends_with', policy: allowOne('domain: {ends_with: .org}'), user: 'bob', ...yes('domain-ok') },
    { name: 'in', policy: allowOne('domain: {in: [example.org, example.net]}'), user: 'bob', ...yes('domain-ok') },
    { name: 'not_in', policy: allowOne('domain: {not_in: [example.org]}'), user: 'bob', ...no('domain-unauthorized') },
    { name: 'two @: the last part does not count', policy: allowOne('domain: example.com'), user: 'mallory', ...no('domain-unauthorized') },
    { name: 'two @: the middle part does not count', policy: allowOne('domain: {contains: evil}'), user: 'mallory', ...no('domain-unauthorized') },
    { name: 'no email', policy: allowOne('domain: {is_not: example.com}'), user: 'bare', ...no('domain-unauthorized') },
    { name: 'no user', policy: allowOne('domain: example.com'), ...signIn },
  ])
})

t.test('user (the id, case-sensitive)', async (t) => {
  runTable(t, [
    { name: 'bare scalar', policy: allowOne('user: u-ann'), user: 'ann', ...yes('user-ok') },
    { name: 'other case', policy: allowOne('user: U-ANN'), user: 'ann', ...no('user-unauthorized') },
    { name: 'is_not', policy: allowOne('user: {is_not: u-ann}'), user: 'bob', ...yes('user-ok') },
    { name: 'starts_with', policy: allowOne('user: {starts_with: u-}'), user: 'bare', ...yes('user-ok') },
    { name: 'in', policy: allowOne('user: {in: [u-bob, u-ann]}'), user: 'bob', ...yes('user-ok') },
    { name: 'the email is not the id', policy: allowOne('user: ann@example.com'), user: 'ann', ...no('user-unauthorized') },
    { name: 'no user', policy: allowOne('user: u-ann'), ...signIn },
  ])
})

t.test('groups (list matcher)', async (t) => {
  runTable(t, [
    { name: 'bare scalar is `has`', policy: allowOne('groups: dev'), user: 'ann', ...yes('groups-ok') },
    { name: 'has, absent', policy: allowOne('groups: {has: ops}'), user: 'ann', ...no('groups-unauthorized') },
    { name: 'has is case-sensitive', policy: allowOne('groups: {has: Admin}'), user: 'ann', ...no('groups-unauthorized') },
    { name: 'is with two groups never matches', policy: allowOne('groups: {is: admin}'), user: 'ann', ...no('groups-unauthorized') },
    { name: 'is with exactly that one group', policy: allowOne('groups: {is: admin}'), user: 'bob', ...yes('groups-ok') },
    { name: 'is with one other group', policy: allowOne('groups: {is: dev}'), user: 'bob', ...no('groups-unauthorized') },
    { name: 'is with no groups', policy: allowOne('groups: {is: admin}'), user: 'bare', ...no('groups-unauthorized') },
    { name: 'exclude, present', policy: allowOne('groups: {exclude: dev}'), user: 'ann', ...no('groups-unauthorized') },
    { name: 'exclude, absent', policy: allowOne('groups: {exclude: dev}'), user: 'bob', ...yes('groups-ok') },
    { name: 'exclude with no groups at all', policy: allowOne('groups: {exclude: dev}'), user: 'bare', ...yes('groups-ok') },
    { name: 'has and exclude must both hold', policy: allowOne('groups: {has: admin, exclude: dev}'), user: 'bob', ...yes('groups-ok') },
    { name: 'has and exclude, exclude fails', policy: allowOne('groups: {has: admin, exclude: dev}'), user: 'ann', ...no('groups-unauthorized') },
    { name: 'no user, even for exclude', policy: allowOne('groups: {exclude: dev}'), ...signIn },
  ])
})

t.test('claim/NAME (list matcher over the claim as a list)', async (t) => {
  runTable(t, [
    // A string claim is a list of one.
    { name: 'string claim, bare scalar (has)', policy: allowOne('claim/amr: mfa'), user: 'ann', ...yes('claim-ok') },
    { name: 'string claim, is', policy: allowOne('claim/amr: {is: mfa}'), user: 'ann', ...yes('claim-ok') },
    { name: 'string claim, other value', policy: allowOne('claim/amr: {has: pwd}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'string claim is not split or searched', policy: allowOne('claim/amr: {has: mf}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'string claim, exclude', policy: allowOne('claim/amr: {exclude: pwd}'), user: 'ann', ...yes('claim-ok') },
    // Lists.
    { name: 'list claim, has', policy: allowOne('claim/roles: {has: viewer}'), user: 'ann', ...yes('claim-ok') },
    { name: 'list claim of two, is', policy: allowOne('claim/roles: {is: editor}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'list claim of one, is', policy: allowOne('claim/solo: {is: editor}'), user: 'ann', ...yes('claim-ok') },
    { name: 'list claim, exclude present', policy: allowOne('claim/roles: {exclude: viewer}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'list claim, exclude absent', policy: allowOne('claim/roles: {exclude: owner}'), user: 'ann', ...yes('claim-ok') },
    { name: 'list claim, has and exclude', policy: allowOne('claim/roles: {has: editor, exclude: owner}'), user: 'ann', ...yes('claim-ok') },
    { name: 'empty list claim, has', policy: allowOne('claim/empty: {has: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'number claim compares as text', policy: allowOne('claim/level: "5"'), user: 'ann', ...yes('claim-ok') },
    { name: 'number claim against a YAML number', policy: allowOne('claim/level: 5'), user: 'ann', ...yes('claim-ok') },
    { name: 'mixed list keeps scalars', policy: allowOne('claim/mixed: {has: two}'), user: 'ann', ...yes('claim-ok') },
    { name: 'mixed list, number as text', policy: allowOne('claim/mixed: "1"'), user: 'ann', ...yes('claim-ok') },
    // Claims hold numbers and booleans, so claim matchers take them (other matchers refuse them).
    { name: 'number claim, is with a YAML number', policy: allowOne('claim/level: {is: 5}'), user: 'ann', ...yes('claim-ok') },
    { name: 'number claim, exclude with a YAML number', policy: allowOne('claim/level: {exclude: 5}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'boolean claim against a YAML boolean', policy: allowOne('claim/verified: true'), user: 'ann', ...yes('claim-ok') },
    { name: 'boolean claim against the text', policy: allowOne('claim/verified: "true"'), user: 'ann', ...yes('claim-ok') },
    { name: 'boolean claim, other value', policy: allowOne('claim/verified: false'), user: 'ann', ...no('claim-unauthorized') },
    // Missing claims match nothing, not even exclude.
    { name: 'missing claim, has', policy: allowOne('claim/missing: {has: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'missing claim, exclude', policy: allowOne('claim/missing: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'user without claims, exclude', policy: allowOne('claim/roles: {exclude: x}'), user: 'bare', ...no('claim-unauthorized') },
    { name: 'null claim counts as missing', policy: allowOne('claim/nothing: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'object claim is no list', policy: allowOne('claim/object: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'inherited property is no claim', policy: allowOne('claim/constructor: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    // Nested and namespaced.
    { name: 'nested path', policy: allowOne('claim/address.country: DE'), user: 'ann', ...yes('claim-ok') },
    { name: 'nested path, two levels', policy: allowOne('claim/address.city.name: {is: Berlin}'), user: 'ann', ...yes('claim-ok') },
    { name: 'nested path, other value', policy: allowOne('claim/address.country: FR'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'nested path into an object', policy: allowOne('claim/address.city: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'nested path through a string', policy: allowOne('claim/amr.x: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'nested path, missing leaf', policy: allowOne('claim/address.zip: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'namespaced URL claim (dots in the key)', policy: allowOne('claim/https://example.com/roles: billing'), user: 'ann', ...yes('claim-ok') },
    {
      name: 'namespaced URL claim, is with two values',
      policy: allowOne('claim/https://example.com/roles: {is: admin}'),
      user: 'ann',
      ...no('claim-unauthorized'),
    },
    { name: 'namespaced claim with a slash', policy: allowOne('claim/auth0/roles: {is: support}'), user: 'ann', ...yes('claim-ok') },
    { name: 'the literal key wins over the nested path', policy: allowOne('claim/a.b: literal'), user: 'ann', ...yes('claim-ok') },
    { name: 'the nested value is not used when the literal key exists', policy: allowOne('claim/a.b: nested'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'nested path when there is no literal key', policy: allowOne('claim/a.c: only-nested'), user: 'ann', ...yes('claim-ok') },
    { name: 'escaped dot inside a nested path', policy: allowOne('claim/x\\.y.z: escaped'), user: 'ann', ...yes('claim-ok') },
    { name: 'an escaped dot is not a path separator', policy: allowOne('claim/a\\.c: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    {
      name: 'a one-segment escaped name reaches the claim with the dot',
      policy: allowOne('claim/dotted\\.key: dotted'),
      user: 'ann',
      ...yes('claim-ok'),
    },
    // `/` separates a path too, as in Pomerium, after the literal key and the dotted path.
    { name: 'slash path when there is no literal key', policy: allowOne('claim/org/team: blue'), user: 'ann', ...yes('claim-ok') },
    { name: 'slash path, other value', policy: allowOne('claim/org/team: red'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'slash path, missing leaf', policy: allowOne('claim/org/site: {exclude: x}'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'slash and dot in one path', policy: allowOne('claim/address/city.name: Berlin'), user: 'ann', ...yes('claim-ok') },
    { name: 'slash path with an escaped dot', policy: allowOne('claim/org/dev\\.ops: on-call'), user: 'ann', ...yes('claim-ok') },
    { name: 'the literal key wins over the slash path', policy: allowOne('claim/auth0/roles: nested-support'), user: 'ann', ...no('claim-unauthorized') },
    { name: 'the dotted path wins over the slash path', policy: allowOne('claim/p.q/r: dotted-first'), user: 'ann', ...yes('claim-ok') },
    { name: 'the slash path is not used when the dotted one exists', policy: allowOne('claim/p.q/r: slash'), user: 'ann', ...no('claim-unauthorized') },
    {
      name: 'an absent namespaced claim matches nothing',
      policy: allowOne('claim/https://example.com/groups: {exclude: x}'),
      user: 'ann',
      ...no('claim-unauthorized'),
    },
    { name: 'the same claim in two users', policy: allowOne('claim/roles: editor'), user: 'bob', ...yes('claim-ok') },
    { name: 'no user', policy: allowOne('claim/roles: editor'), ...signIn },
  ])
})

t.test('http_method (string matcher over the upper-case method)', async (t) => {
  runTable(t, [
    { name: 'bare scalar', policy: allowOne('http_method: GET'), ...yes('http-method-ok') },
    { name: 'lower-case policy value', policy: allowOne('http_method: get'), ...yes('http-method-ok') },
    { name: 'other method', policy: allowOne('http_method: POST'), ...no('http-method-unauthorized') },
    { name: 'in', policy: allowOne('http_method: {in: [get, head]}'), req: { method: 'HEAD' }, ...yes('http-method-ok') },
    { name: 'not_in', policy: allowOne('http_method: {not_in: [delete, patch]}'), req: { method: 'PATCH' }, ...no('http-method-unauthorized') },
    { name: 'is_not', policy: allowOne('http_method: {is_not: POST}'), req: { method: 'PUT' }, ...yes('http-method-ok') },
    { name: 'starts_with', policy: allowOne('http_method: {starts_with: P}'), req: { method: 'PUT' }, ...yes('http-method-ok') },
    { name: 'with a user too', policy: allowOne('http_method: GET'), user: 'ann', ...yes('http-method-ok') },
  ])
})

t.test('http_path (string matcher, case-sensitive)', async (t) => {
  runTable(t, [
    { name: 'bare scalar is exact', policy: allowOne('http_path: /admin'), req: { path: '/admin' }, ...yes('http-path-ok') },
    { name: 'bare scalar, longer path', policy: allowOne('http_path: /admin'), req: { path: '/admin/x' }, ...no('http-path-unauthorized') },
    { name: 'case-sensitive', policy: allowOne('http_path: /admin'), req: { path: '/Admin' }, ...no('http-path-unauthorized') },
    { name: 'is', policy: allowOne('http_path: {is: /}'), ...yes('http-path-ok') },
    { name: 'is_not', policy: allowOne('http_path: {is_not: /admin}'), req: { path: '/admin' }, ...no('http-path-unauthorized') },
    { name: 'not', policy: allowOne('http_path: {not: /admin}'), req: { path: '/public' }, ...yes('http-path-ok') },
    { name: 'starts_with', policy: allowOne('http_path: {starts_with: /api/}'), req: { path: '/api/v1' }, ...yes('http-path-ok') },
    {
      name: 'starts_with, prefix without the slash',
      policy: allowOne('http_path: {starts_with: /api/}'),
      req: { path: '/api' },
      ...no('http-path-unauthorized'),
    },
    { name: 'ends_with', policy: allowOne('http_path: {ends_with: .json}'), req: { path: '/a/b.json' }, ...yes('http-path-ok') },
    { name: 'contains', policy: allowOne('http_path: {contains: /secret/}'), req: { path: '/a/secret/b' }, ...yes('http-path-ok') },
    { name: 'in', policy: allowOne('http_path: {in: [/a, /b]}'), req: { path: '/b' }, ...yes('http-path-ok') },
    { name: 'in is exact', policy: allowOne('http_path: {in: [/a, /b]}'), req: { path: '/b/' }, ...no('http-path-unauthorized') },
    { name: 'not_in', policy: allowOne('http_path: {not_in: [/a, /b]}'), req: { path: '/c' }, ...yes('http-path-ok') },
    {
      name: 'starts_with and ends_with both hold',
      policy: allowOne('http_path: {starts_with: /api, ends_with: .json}'),
      req: { path: '/api/x.json' },
      ...yes('http-path-ok'),
    },
    {
      name: 'starts_with and ends_with, one fails',
      policy: allowOne('http_path: {starts_with: /api, ends_with: .json}'),
      req: { path: '/api/x.xml' },
      ...no('http-path-unauthorized'),
    },
    {
      name: 'is and is_not together can never hold',
      policy: allowOne('http_path: {is: /a, is_not: /a}'),
      req: { path: '/a' },
      ...no('http-path-unauthorized'),
    },
  ])
})

t.test('source_ip (address, CIDR or list; IPv4 and IPv6)', async (t) => {
  const ip = (range: string, sourceIp: string, matches: boolean): Row => ({
    name: `${range} ${matches ? 'holds' : 'does not hold'} ${sourceIp}`,
    policy: { allow: { or: [{ source_ip: range.startsWith('[') ? JSON.parse(range) : range }] } },
    req: { sourceIp },
    ...(matches ? yes('source-ip-ok') : no('source-ip-unauthorized')),
  })
  runTable(t, [
    ip('10.1.2.3', '10.1.2.3', true),
    ip('10.1.2.3', '10.1.2.4', false),
    ip('10.1.2.3/32', '10.1.2.3', true),
    ip('10.0.0.0/8', '10.255.255.255', true),
    ip('10.0.0.0/8', '11.0.0.0', false),
    ip('10.0.0.0/8', '9.255.255.255', false),
    ip('192.168.1.0/24', '192.168.1.0', true),
    ip('192.168.1.0/24', '192.168.1.255', true),
    ip('192.168.1.0/24', '192.168.2.1', false),
    ip('172.16.0.0/12', '172.31.255.255', true),
    ip('172.16.0.0/12', '172.32.0.0', false),
    ip('192.168.1.77/24', '192.168.1.200', true),
    ip('0.0.0.0/0', '203.0.113.9', true),
    ip('0.0.0.0/0', '2001:db8::1', false),
    ip('127.0.0.1', '::1', false),
    ip('::1', '::1', true),
    ip('::1', '::2', false),
    ip('::1/128', '0:0:0:0:0:0:0:1', true),
    ip('2001:db8::/32', '2001:db8:ffff:ffff::1', true),
    ip('2001:db8::/32', '2001:DB8::abcd', true),
    ip('2001:db8::/32', '2001:db9::1', false),
    ip('2001:db8::/33', '2001:db8:7fff::1', true),
    ip('2001:db8::/33', '2001:db8:8000::1', false),
    ip('2001:db8:1:2::/64', '2001:db8:1:2:ffff:ffff:ffff:ffff', true),
    ip('2001:db8:1:2::/64', '2001:db8:1:3::', false),
    ip('2001:db8::/127', '2001:db8::1', true),
    ip('2001:db8::/127', '2001:db8::2', false),
    ip('fe80::/10', 'febf::1', true),
    ip('fe80::/10', 'fec0::1', false),
    ip('::/0', '2001:db8::1', true),
    ip('::/0', '10.1.2.3', false),
    ip('::ffff:0:0/96', '::ffff:10.1.2.3', true),
    ip('::ffff:10.1.2.0/120', '::ffff:10.1.2.99', true),
    // IPv4-mapped IPv6 is IPv4, written in the policy (prefix minus 96) or by the client.
    ip('::ffff:10.0.0.0/104', '10.1.2.3', true),
    ip('::ffff:10.0.0.0/104', '11.1.2.3', false),
    ip('::ffff:1.2.3.4', '1.2.3.4', true),
    ip('::ffff:1.2.3.4', '1.2.3.5', false),
    ip('::ffff:1.2.3.4/128', '1.2.3.4', true),
    ip('::ffff:1.2.3.0/120', '1.2.3.255', true),
    ip('::ffff:a00:0/104', '10.9.9.9', true),
    ip('::ffff:0:0/96', '203.0.113.9', true),
    ip('::ffff:0:0/96', '2001:db8::1', false),
    ip('::ffff:10.0.0.0/104', '2001:db8::1', false),
    ip('10.0.0.0/8', '::ffff:10.1.2.3', true),
    ip('10.0.0.0/8', '::ffff:11.1.2.3', false),
    ip('10.1.2.3', '::FFFF:10.1.2.3', true),
    ip('::/0', '::ffff:10.1.2.3', false),
    ip('::ffff:1.2.3.4', '::ffff:1.2.3.4', true),
    ip('["192.168.0.0/16", "2001:db8::/32"]', '2001:db8::5', true),
    ip('["192.168.0.0/16", "2001:db8::/32"]', '192.168.9.9', true),
    ip('["192.168.0.0/16", "2001:db8::/32"]', '10.1.2.3', false),
    ip('["203.0.113.7"]', '203.0.113.7', true),
    ip('10.0.0.0/8', '', false),
    ip('10.0.0.0/8', 'not-an-ip', false),
  ])
})

t.test('source_ip: a deny rule written as IPv4-mapped IPv6 denies IPv4 clients', async (t) => {
  const policy = 'allow: {or: [{accept: true}]}\ndeny: {or: [{source_ip: "::ffff:10.0.0.0/104"}]}'
  runTable(t, [
    { name: 'a client inside the range', policy, req: { sourceIp: '10.1.2.3' }, verdict: 'deny', reasons: ['source-ip-ok'], rule: 'policy' },
    { name: 'the same client, mapped', policy, req: { sourceIp: '::ffff:10.1.2.3' }, verdict: 'deny', reasons: ['source-ip-ok'], rule: 'policy' },
    { name: 'a client outside it', policy, req: { sourceIp: '192.168.1.1' }, verdict: 'allow', reasons: ['accept'], rule: 'policy' },
  ])
})

t.test('cors_preflight (OPTIONS with Origin and Access-Control-Request-Method)', async (t) => {
  const origin = 'https://web.example.com'
  runTable(t, [
    {
      name: 'a preflight',
      policy: allowOne('cors_preflight: true'),
      req: { method: 'OPTIONS', origin, accessControlRequestMethod: 'PUT' },
      ...yes('cors-request'),
    },
    {
      name: 'OPTIONS without Access-Control-Request-Method',
      policy: allowOne('cors_preflight: true'),
      req: { method: 'OPTIONS', origin },
      ...no('non-cors-request'),
    },
    {
      name: 'OPTIONS without Origin',
      policy: allowOne('cors_preflight: true'),
      req: { method: 'OPTIONS', accessControlRequestMethod: 'PUT' },
      ...no('non-cors-request'),
    },
    {
      name: 'GET with both headers',
      policy: allowOne('cors_preflight: true'),
      req: { method: 'GET', origin, accessControlRequestMethod: 'PUT' },
      ...no('non-cors-request'),
    },
    {
      name: 'cors_preflight: 1 is true',
      policy: allowOne('cors_preflight: 1'),
      req: { method: 'OPTIONS', origin, accessControlRequestMethod: 'PUT' },
      ...yes('cors-request'),
    },
    {
      name: 'needs no user',
      policy: allowOne('cors_preflight: true'),
      req: { method: 'OPTIONS', origin, accessControlRequestMethod: 'GET' },
      user: 'ann',
      ...yes('cors-request'),
    },
  ])
})

t.test('findClaim, which groups_claim, username and email claims and jwt_claims_headers use too', async (t) => {
  const claims = {
    'auth0/roles': ['literal'],
    auth0: { roles: ['nested'] },
    realm_access: { roles: ['keycloak'] },
    'https://example.com/roles': ['namespaced'],
    org: { team: 'blue' },
  }
  t.strictSame(findClaim(claims, 'auth0/roles'), ['literal'], 'a literal key with a slash comes first')
  t.strictSame(findClaim({ auth0: { roles: ['nested'] } }, 'auth0/roles'), ['nested'], 'then the slash is a path separator')
  t.strictSame(findClaim(claims, 'realm_access.roles'), ['keycloak'], 'a dotted path')
  t.strictSame(findClaim(claims, 'https://example.com/roles'), ['namespaced'], 'a namespaced URL claim')
  t.equal(findClaim(claims, 'https://example.com/groups'), undefined, 'an absent namespaced claim')
  t.equal(findClaim(claims, 'org/team'), 'blue', 'org/team finds org.team')
  t.equal(findClaim(claims, 'org/team/x'), undefined, 'a path through a string finds nothing')
})

t.test('values are data, never code', async (t) => {
  // Quotes, backslashes, template syntax, comment ends and line breaks in names and values.
  const nasty = '/a\'"`${process.exit(1)}\\\n*/ //'
  const claimName = "x'); throw new Error('injected'); ('`${1}`"
  const prepared = prepareUser({ id: nasty, email: `o'brien@example.com`, groups: [nasty], claims: { [claimName]: [nasty] } })
  const cases: [string, unknown, boolean][] = [
    ['http_path is', { allow: { or: [{ http_path: { is: nasty } }] } }, true],
    ['http_path in', { allow: { or: [{ http_path: { in: ['x', nasty] } }] } }, true],
    ['http_path contains a part', { allow: { or: [{ http_path: { contains: '${process' } }] } }, true],
    ['http_path is something else', { allow: { or: [{ http_path: { is: `${nasty}x` } }] } }, false],
    ['user id', { allow: { or: [{ user: nasty }] } }, true],
    ['email with a quote', { allow: { or: [{ email: "O'Brien@example.com" }] } }, true],
    ['groups', { allow: { or: [{ groups: { is: nasty } }] } }, true],
    ['claim with a hostile name', { allow: { or: [{ [`claim/${claimName}`]: { has: nasty } }] } }, true],
    ['claim with a hostile name, exclude', { allow: { or: [{ [`claim/${claimName}`]: { exclude: nasty } }] } }, false],
  ]
  for (const [name, raw, allowed] of cases) {
    const policy = compile(raw)
    const input = { request: request({ path: nasty }), user: prepared }
    t.equal(policy.evaluate(input).verdict, allowed ? 'allow' : 'deny', name)
    t.equal(policy.explain(input).decision.verdict, allowed ? 'allow' : 'deny', `${name} (explain)`)
  }
})
