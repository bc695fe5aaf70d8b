// Path attacks through the real proxy, as raw bytes: every normalisation rule of
// src/routes/normalize.ts, each seen both in the status and in what the upstream got.

import t from 'tap'
import { assertForwarded, assertNoAdmin, assertRefused, attackProxy, exchange, HOST, rawHttp, type Status } from './common.js'

/** [request target, what happens]: a number (or list) is a refusal with nothing upstream;
 *  a string is the exact URL the upstream must receive (with 200). */
type Case = readonly [target: string, outcome: Status | string, note?: string]

const CASES: readonly Case[] = [
  // dot segments, raw and encoded
  ['/public/./x', '/public/x'],
  ['/public/a/../x', '/public/x'],
  ['/public/%2e/x', '/public/x'],
  ['/public/a/%2e%2e/x', '/public/x'],
  ['/public/a/%2E%2e/x', '/public/x'],
  ['/public/a/.%2e/x', '/public/x'],
  ['/public/a/..', '/public/'],
  ['/public/a/.', '/public/a/'],
  ['/public/../admin', 403],
  ['/public/%2e%2e/admin', 403],
  ['/public/%2E%2E/admin/users', 403],
  ['/public/.%2e/admin', 403],
  ['/./admin', 403],
  ['/%2e/admin', 403],
  ['/public/x/../../admin', 403],
  ['/%61dmin', 403],
  ['/%61%64%6d%69%6e/', 403],
  ['/admin', 403],
  ['/admin/', 403],
  ['/admin?x=1', 403],
  ['/admin-panel', 403, 'a prefix is a plain string prefix'],
  // double encoding stays encoded, and is then just a name
  // (only the escape itself, %25, is upper-cased: the "2e" after it is plain text)
  ['/public/%252e%252e/admin', '/public/%252e%252e/admin'],
  ['/public/%252E%252E/', '/public/%252E%252E/'],
  ['/public/%252f..%252fadmin', '/public/%252f..%252fadmin', 'double-encoded slashes stay one segment'],
  ['/%2561dmin', '/%2561dmin'],
  // encoded separators and NUL
  ['/public/..%2fadmin', 400],
  ['/public/%2f..%2fadmin', 400],
  ['/public%2F..%2Fadmin', 400],
  ['/public/..%5cadmin', 400],
  ['/public/%5C', 400],
  ['/public/%00', 400],
  ['/admin%00', 400],
  ['/public/%2500', '/public/%2500'],
  // raw backslash
  ['/public\\..\\admin', 400],
  ['/public/\\admin', 400],
  ['\\admin', 400],
  // invalid percent-encoding and UTF-8
  ['/public/%zz', 400],
  ['/public/%2', 400],
  ['/public/%', 400],
  ['/public/%%32%65', 400],
  ['/public/%g1', 400],
  ['/public/%c0%ae%c0%ae/admin', 400, 'overlong UTF-8 dots'],
  ['/public/%e0%80%ae', 400, 'overlong'],
  ['/public/%ff', 400],
  ['/public/%c3', 400, 'truncated sequence'],
  ['/public/%c3x', 400],
  ['/public/%ed%a0%80', 400, 'UTF-16 surrogate'],
  ['/public/%c3%a9', '/public/%C3%A9'],
  ['/public/%e2%80%a5', '/public/%E2%80%A5', 'two-dot leader stays a name'],
  // fragments
  ['/public#x', 400],
  ['/public/..#/admin', 400],
  ['/admin#', 400],
  ['/public?a=#b', 400],
  // climbing above the root
  ['/..', 400],
  ['/../admin', 400],
  ['/public/../../admin', 400],
  ['/%2e%2e/admin', 400],
  ['/public/%2e%2e/%2e%2e/admin', 400],
  // path parameters
  ['/admin;x=1', 400],
  ['/admin;', 400],
  ['/public/..;/admin', 400],
  ['/public;/../admin', 400],
  ['/public/%3b/x', '/public/%3B/x', 'an encoded ; is just a character'],
  ['/public/x;jsessionid=1', 400],
  // duplicate slashes
  ['//admin', 403],
  ['///admin//x', 403],
  ['/public//x', '/public/x'],
  ['///public///x', '/public/x'],
  ['/public/x//', '/public/x/'],
  // case: prefixes, and the deny rule, are case-sensitive (upstreams that fold case are
  // the operator's to handle); /internal is closed, /INTERNAL is the catch-all's
  ['/internal/x', [401, 403]],
  ['/INTERNAL/x', '/INTERNAL/x'],
  ['/PUBLIC/x', '/PUBLIC/x'],
  ['/%49nternal', '/Internal'],
  ['/%69nternal/x', [401, 403]],
  // not a path at all
  // absolute form: only when it names the Host, and then judged on its path
  ['http://app.test/admin', 403, 'absolute form'],
  ['HTTP://APP.TEST/public/../admin', 403, 'absolute form'],
  ['http://app.test/public/%2e%2e/admin', 403, 'absolute form'],
  ['http://app.test/public', '/public', 'absolute form naming the Host'],
  ['http://evil.test/public', 400, 'absolute form naming another host'],
  ['http://evil.test/admin', 400, 'absolute form naming another host'],
  ['http://app.test@evil.test/public', 400, 'absolute form with userinfo'],
  ['http://app.test.evil.test/public', 400, 'absolute form, look-alike host'],
  ['http://app.test', '/', 'absolute form without a path'],
  ['http://app.test?x', 400, 'absolute form, query without a path'],
  ['admin', 400],
  ['*', 400],
  // the query never takes part in matching and is forwarded as received
  ['/public?x=/../admin', '/public?x=/../admin'],
  ['/public?%2e%2e/admin;x', '/public?%2e%2e/admin;x'],
  ['/public/?next=//evil', '/public/?next=//evil'],
]

t.test('path attacks through the proxy', async (t) => {
  const p = await attackProxy(t)
  for (const [target, outcome, note] of CASES) {
    const label = `${target}${note ? ` (${note})` : ''}`
    const got = await exchange(p, rawHttp(target))
    if (typeof outcome === 'string') assertForwarded(t, label, got, outcome)
    else assertRefused(t, label, got, outcome)
  }
  assertNoAdmin(t, p.up)
})

t.test('raw non-ASCII bytes and control characters in the target', async (t) => {
  const p = await attackProxy(t)
  const targets: [string, Buffer][] = [
    ['raw é', Buffer.from('/public/\xc3\xa9', 'latin1')],
    ['raw latin-1 byte', Buffer.from('/public/\xe9', 'latin1')],
    ['raw fullwidth dot dot', Buffer.from('/public/\xef\xbc\x8e\xef\xbc\x8e/admin', 'latin1')],
    ['raw NUL', Buffer.from('/public/\x00admin', 'latin1')],
    ['raw tab', Buffer.from('/public/\tadmin', 'latin1')],
    ['raw DEL', Buffer.from('/public/\x7f', 'latin1')],
  ]
  for (const [label, target] of targets) {
    const bytes = Buffer.concat([Buffer.from('GET '), target, Buffer.from(` HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`)])
    assertRefused(t, label, await exchange(p, bytes), 400)
  }
  assertNoAdmin(t, p.up)
})

t.test('every method is judged on the same normalised path', async (t) => {
  const p = await attackProxy(t)
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const body = method === 'GET' || method === 'HEAD' ? '' : 'x'
    const lines = [`Host: ${HOST}`, ...(body ? ['Content-Length: 1'] : [])]
    assertRefused(t, `${method} /public/%2e%2e/admin`, await exchange(p, rawHttp('/public/%2e%2e/admin', lines, body, method)), 403)
    assertRefused(t, `${method} /admin;x`, await exchange(p, rawHttp('/admin;x', lines, body, method)), 400)
  }
  assertNoAdmin(t, p.up)
})
