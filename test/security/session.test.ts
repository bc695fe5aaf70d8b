// Session cookie attacks: tampered, truncated, sealed with another secret, expired,
// moved from another cookie, oversized. Each counts as no session (401 or a redirect to
// sign in), the cookie is cleared, nothing reaches the upstream, and nothing is a 5xx.

import t, { type Test } from 'tap'
import { CookieJar, setCookies } from '../helpers/browser.js'
import { request, type Reply } from '../helpers/client.js'
import { upstream, type EchoUpstream } from '../helpers/upstream.js'
import type { RunningGatehouse } from '../helpers/gatehouse.js'
import { idpYaml, newSecret, provider, session, signedInGatehouse } from './signin.js'
import type { TestIdp } from '../helpers/idp.js'

const HOST = 'app.test'

function routes(origin: string): string {
  return `routes:
  - from: http://${HOST}
    to: ${origin}
    allow_any_authenticated_user: true
  - from: http://${HOST}
    prefix: /public
    to: ${origin}
    allow_public_unauthenticated_access: true
`
}

async function start(t: Test, p: TestIdp, up: EchoUpstream, sessionExtra = ''): Promise<RunningGatehouse> {
  return signedInGatehouse(t, `${idpYaml(p, newSecret(), sessionExtra)}${routes(up.origin)}`, HOST)
}

const get = (gh: RunningGatehouse, path: string, cookie: string, accept = 'application/json') =>
  request(gh.port, { path, headers: { host: HOST, cookie, accept } })

const cleared = (res: Reply) => setCookies(res).some((line) => /^_gatehouse=;/.test(line) && /Max-Age=0/i.test(line))

/** The checks every bad cookie gets: JSON 401, a browser redirect, the cookie cleared,
 *  nothing upstream, and on a public route the request passes without the cookie. */
async function assertNoSession(t: Test, gh: RunningGatehouse, up: EchoUpstream, label: string, cookie: string, expectClear = true): Promise<void> {
  const before = up.received.length
  const api = await get(gh, '/private', cookie)
  t.equal(api.status, 401, `${label}: 401`)
  if (api.status === 401) t.ok(JSON.parse(api.text).sign_in_url, `${label}: with a sign_in_url`)
  if (expectClear) t.ok(cleared(api), `${label}: the cookie is cleared (${setCookies(api).join(' | ').slice(0, 120)})`)
  const page = await get(gh, '/private', cookie, 'text/html')
  t.equal(page.status, 302, `${label}: a browser is sent to sign in`)
  t.match(String(page.headers.location), /^http:\/\/[^/]+\/\.gatehouse\/sign_in\?rd=/, `${label}: to the sign-in page`)
  t.equal(up.received.length, before, `${label}: nothing upstream`)

  const pub = await get(gh, '/public/x', cookie)
  t.equal(pub.status, 200, `${label}: a public route still answers`)
  t.equal(up.received.length, before + 1, `${label}: one public request upstream`)
  const seen = up.received.at(-1)
  t.notMatch(String(seen?.headers.cookie ?? ''), /(^|;\s*)_gatehouse(_[^=]*)?=/, `${label}: Gatehouse's cookies never reach the upstream`)
  t.equal(seen?.headers['x-gatehouse-jwt-assertion'], undefined, `${label}: no identity upstream`)
  if (expectClear) t.ok(cleared(pub), `${label}: cleared on the public route too`)
}

function flip(value: string, at: number): string {
  const c = value[at]
  return value.slice(0, at) + (c === 'A' ? 'B' : 'A') + value.slice(at + 1)
}

t.test('bad session cookies count as no session', async (t) => {
  const p = await provider(t, [HOST])
  const up = await upstream(t)
  const gh = await start(t, p, up)
  const jar = await session(gh, p, HOST)
  const good = jar.get('_gatehouse')!
  t.equal((await get(gh, '/private', jar.header())).status, 200, 'control: the real cookie works')
  t.equal(up.received.length, 1)

  // Another Gatehouse (another secret) signs the same user in: its cookie must not open here.
  const foreignGh = await start(t, p, up)
  const foreign = (await session(foreignGh, p, HOST)).get('_gatehouse')!
  // A sign-in transaction cookie is sealed with the same secret, for another name.
  const started = await request(gh.port, { path: '/.gatehouse/sign_in?rd=/', headers: { host: HOST } })
  const tx = new CookieJar().absorb(started)
  const [txName, txValue] = [...tx][0]
  t.match(txName, /^_gatehouse_tx_/)

  const cases: [string, string, boolean?][] = [
    ['tampered in the middle', `_gatehouse=${flip(good, Math.floor(good.length / 2))}`],
    ['tampered first character', `_gatehouse=${flip(good, 0)}`],
    ['tampered last character', `_gatehouse=${flip(good, good.length - 1)}`],
    ['truncated by one', `_gatehouse=${good.slice(0, -1)}`],
    ['truncated by half', `_gatehouse=${good.slice(0, good.length >> 1)}`],
    ['truncated to 10 characters', `_gatehouse=${good.slice(0, 10)}`],
    ['extended', `_gatehouse=${good}AAAA`],
    ['sealed with another secret', `_gatehouse=${foreign}`],
    ['a transaction cookie under the session name', `_gatehouse=${txValue}`],
    ['garbage', '_gatehouse=!!!not-a-cookie!!!'],
    ['percent-encoded garbage', '_gatehouse=%00%ff%fe'],
    ['quoted', `_gatehouse="${good.slice(0, -2)}"`],
    ['only dots', '_gatehouse=...'],
    ['a JWT with alg none', '_gatehouse=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.'],
    ['oversized, 30 KiB', `_gatehouse=${'A'.repeat(30 * 1024)}`],
    ['oversized, 60 KiB', `_gatehouse=${'A'.repeat(60 * 1024)}`],
    ['eight forged chunks', ['_gatehouse=' + 'A'.repeat(3000), ...Array.from({ length: 7 }, (_, i) => `_gatehouse_${i + 1}=${'B'.repeat(3000)}`)].join('; ')],
    ['forty forged chunks', ['_gatehouse=' + 'A'.repeat(100), ...Array.from({ length: 40 }, (_, i) => `_gatehouse_${i + 1}=${'B'.repeat(1000)}`)].join('; ')],
    ['the real cookie with a forged chunk after it', `_gatehouse=${good.slice(0, 40)}; _gatehouse_1=${good.slice(40)}X`],
  ]
  for (const [label, cookie, expectClear] of cases) await assertNoSession(t, gh, up, label, cookie, expectClear ?? true)
  // Shapes that may or may not count as "present", but never as a session.
  for (const [label, cookie] of [
    ['empty value', '_gatehouse='],
    ['a chunk without its head', `_gatehouse_1=${good}`],
    ['the value under a look-alike name', `_gatehousex=${good}`],
    ['the name in upper case', `_GATEHOUSE=${good}`],
  ]) {
    await assertNoSession(t, gh, up, label, cookie, false)
  }
  t.equal((await get(gh, '/private', jar.header())).status, 200, 'the real cookie still works afterwards')
})

t.test('an expired session counts as no session', async (t) => {
  const p = await provider(t, [HOST])
  const up = await upstream(t)
  const gh = await start(t, p, up, '  lifetime: 1s\n')
  const jar = await session(gh, p, HOST)
  t.equal((await get(gh, '/private', jar.header())).status, 200, 'fresh: it works')
  await new Promise((r) => setTimeout(r, 2100))
  await assertNoSession(t, gh, up, 'expired', jar.header())
})
