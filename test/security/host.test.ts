// Host header attacks: an unknown host goes nowhere, a malformed or repeated one is
// refused, and the spellings that name the same host reach the same route.

import t from 'tap'
import { assertForwarded, assertRefused, attackProxy, exchange, rawHttp, type Status } from './common.js'

/** [label, Host lines (each a whole header line), outcome]: a status is a refusal with
 *  nothing upstream; 'route' is 200 with the upstream seeing /public/x. */
type Case = readonly [label: string, lines: string[], outcome: Status | 'route']

const CASES: readonly Case[] = [
  ['unknown host', ['Host: other.test'], 404],
  ['unknown subdomain', ['Host: x.app.test'], 404],
  ['look-alike suffix', ['Host: app.test.evil.com'], 404],
  ['look-alike prefix', ['Host: evilapp.test'], 404],
  ['IP literal', ['Host: 127.0.0.1'], 404],
  ['other port', ['Host: app.test:8443'], 404],
  ['two Host headers, different', ['Host: app.test', 'Host: other.test'], 400],
  ['two Host headers, unknown first', ['Host: other.test', 'Host: app.test'], 400],
  ['two Host headers, the same', ['Host: app.test', 'Host: app.test'], 400],
  ['two Host headers, different case', ['Host: app.test', 'host: APP.TEST'], 400],
  ['userinfo', ['Host: user@app.test'], 400],
  ['userinfo with a password', ['Host: app.test:80@evil.test'], 400],
  ['space inside', ['Host: app.test evil.test'], 400],
  ['comma list', ['Host: app.test,evil.test'], 400],
  ['path', ['Host: app.test/admin'], 400],
  ['query', ['Host: app.test?x'], 400],
  ['fragment', ['Host: app.test#x'], 400],
  ['backslash', ['Host: app.test\\evil.test'], 400],
  ['percent-encoding', ['Host: app%2etest'], 400],
  ['empty', ['Host: '], 400],
  ['missing', [], 400],
  ['port out of range', ['Host: app.test:99999'], 400],
  ['port not a number', ['Host: app.test:http'], 400],
  ['empty port', ['Host: app.test:'], 400],
  ['two dots at the end', ['Host: app.test..'], 400],
  ['leading dot', ['Host: .app.test'], 400],
  ['scheme', ['Host: http://app.test'], 400],
  ['trailing dot', ['Host: app.test.'], 'route'],
  ['upper case', ['Host: APP.TEST'], 'route'],
  ['mixed case and trailing dot', ['Host: App.Test.'], 'route'],
  ['default port 80', ['Host: app.test:80'], 'route'],
  ['trailing dot and port 80', ['Host: app.test.:80'], 'route'],
]

t.test('Host header attacks', async (t) => {
  const p = await attackProxy(t)
  for (const [label, lines, outcome] of CASES) {
    const got = await exchange(p, rawHttp('/public/x', lines))
    if (outcome === 'route') assertForwarded(t, label, got, '/public/x')
    else assertRefused(t, label, got, outcome)
  }
})

t.test('an unknown host is not reachable through any spelling of the path', async (t) => {
  const p = await attackProxy(t)
  for (const target of ['/', '/public', '/.gatehouse/../public', 'http://app.test/public']) {
    const got = await exchange(p, rawHttp(target, ['Host: other.test']))
    assertRefused(t, `other.test ${target}`, got, [400, 404])
  }
})
