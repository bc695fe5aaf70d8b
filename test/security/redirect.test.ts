// Open redirects: `rd` on sign-in and sign-out. Every classic lands on the request's own
// origin; only plain relative paths and configured route origins are followed.

import t, { type Test } from 'tap'
import { CookieJar, signIn } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { idpYaml, newSecret, provider, signedInGatehouse } from './signin.js'
import { upstream } from '../helpers/upstream.js'

const HOST = 'app.test'
const ORIGIN = `http://${HOST}`

/** rd values, sent percent-encoded (as a browser would put them in a link). */
const ATTACKS: readonly string[] = [
  '//evil.com',
  '//evil.com/',
  '///evil.com',
  '////evil.com',
  '/\\evil.com',
  '\\/evil.com',
  '\\\\evil.com',
  '/\\/evil.com',
  '/\t/evil.com',
  '\t//evil.com',
  '/%09/evil.com',
  '/%5Cevil.com',
  '/%2F/evil.com',
  '%2F%2Fevil.com',
  'https://evil.com',
  'http://evil.com',
  'HTTP://EVIL.COM',
  'http:evil.com',
  'http:/evil.com',
  'https:evil.com',
  '//app.test@evil.com',
  'http://app.test@evil.com',
  'http://app.test:80@evil.com/',
  'http://user:pass@app.test/',
  'http://evil.com#@app.test',
  'http://evil.com?@app.test',
  'http://evil.com\\@app.test',
  'http://app.test.evil.com',
  'http://app.test.evil.com/',
  'http://evilapp.test',
  'http://app.testevil.com',
  'http://x.corp.test.evil.com/',
  'http://evilcorp.test/',
  'http://corp.test/',
  'https://app.test/',
  'javascript:alert(1)',
  'JavaScript:alert(1)',
  ' javascript:alert(1)',
  'java\tscript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  '/\r\nLocation: http://evil.com',
  '/%0d%0aLocation:%20http://evil.com',
  '/\r\nSet-Cookie: _gatehouse=x',
  '/x\nhttp://evil.com',
  '\u0000//evil.com',
  '/\u0000/evil.com',
  ' //evil.com',
  '//evil.com%2F%2E%2E',
  'http://[::1]/',
  'http://127.0.0.1/',
  'http://0x7f.1/',
  'evil.com',
  '.evil.com',
  '/.gatehouse/sign_in?rd=//evil.com',
  `${'/'.repeat(2500)}evil.com`,
]

/** Where the browser lands must be on our origin: the Location starts with it and a
 *  browser parsing it agrees. */
/** Signs out with `rdQuery` (already encoded, or raw) and returns where the signed-out
 *  page's "sign in again" leads: sign-out keeps rd in its sealed marker cookie, and the
 *  page is where the browser goes after it. */
async function rdAfterSignOut(port: number, rdQuery: string): Promise<string | undefined> {
  const out = await request(port, { path: `/.gatehouse/sign_out?rd=${rdQuery}`, headers: { host: HOST } })
  if (out.status !== 302 || out.headers.location !== `${ORIGIN}/.gatehouse/signed_out`) return `unexpected ${out.status} ${out.headers.location}`
  const jar = new CookieJar().absorb(out)
  const page = await request(port, { path: '/.gatehouse/signed_out', headers: { host: HOST, cookie: jar.header(), accept: 'text/html' } })
  const link = /href="(\/\.gatehouse\/sign_in\?[^"]+)"/.exec(page.text)?.[1].replaceAll('&amp;', '&')
  return link === undefined ? undefined : (new URL(link, ORIGIN).searchParams.get('rd') ?? undefined)
}

function landsHome(location: string | undefined): boolean {
  if (location === undefined || /[\r\n\t\0\\]/.test(location)) return false
  const url = new URL(location, ORIGIN)
  return url.origin === ORIGIN && location.startsWith(`${ORIGIN}/`) && !url.username && !url.password
}

async function setup(t: Test) {
  const p = await provider(t, [HOST])
  const up = await upstream(t)
  const gh = await signedInGatehouse(
    t,
    `${idpYaml(p, newSecret())}routes:
  - from: http://${HOST}
    to: ${up.origin}
    allow_any_authenticated_user: true
  - from: http://other.test
    to: ${up.origin}
    allow_any_authenticated_user: true
  - from: http://*.corp.test
    to: ${up.origin}
    allow_any_authenticated_user: true
`,
    HOST,
  )
  return { p, up, gh }
}

t.test('sign_out: every rd classic lands on our own origin', async (t) => {
  const { gh, up } = await setup(t)
  for (const rd of ATTACKS) {
    const target = await rdAfterSignOut(gh.port, encodeURIComponent(rd))
    t.ok(landsHome(target), `${JSON.stringify(rd).slice(0, 80)}: lands on ${target}`)
  }
  // Raw (unencoded) forms in the query, which the query parser decodes itself.
  for (const raw of [
    '//evil.com',
    '/\\evil.com',
    '/%5Cevil.com',
    '%2F%2Fevil.com',
    'http:evil.com',
    '\\\\evil.com',
    '/%09/evil.com',
    'http://app.test.evil.com',
    '/%0d%0aX:y',
    '//evil.com&rd=/ok',
    '/ok&rd=//evil.com',
  ]) {
    const target = await rdAfterSignOut(gh.port, raw)
    t.ok(landsHome(target), `raw ${raw}: lands on ${target}`)
  }
  t.equal(up.received.length, 0, 'the upstream saw nothing')
})

t.test('sign_out: legitimate targets are kept', async (t) => {
  const { gh } = await setup(t)
  const kept: [string, string][] = [
    ['/dashboard?tab=1', `${ORIGIN}/dashboard?tab=1`],
    [`${ORIGIN}/x`, `${ORIGIN}/x`],
    ['http://other.test/y', 'http://other.test/y'],
    ['http://a.corp.test/z', 'http://a.corp.test/z'],
  ]
  for (const [rd, want] of kept) {
    t.equal(await rdAfterSignOut(gh.port, encodeURIComponent(rd)), want, `${rd} is followed`)
  }
})

t.test("rd never leads to Gatehouse's own endpoints, however spelled", async (t) => {
  const { gh, p } = await setup(t)
  const own = [
    '/.gatehouse/sign_out',
    `${ORIGIN}/.gatehouse/sign_out?rd=/`,
    '/%2egatehouse/sign_out',
    '/x/../.gatehouse/sign_out',
    '/oauth2/callback?code=x&state=y',
    '/.gatehouse/sign_in?rd=/',
    'http://other.test/.gatehouse/sign_out',
  ]
  for (const rd of own) {
    t.equal(await rdAfterSignOut(gh.port, encodeURIComponent(rd)), `${ORIGIN}/`, `sign_out with rd ${rd}: home instead`)
    const { callback } = await signIn(gh.port, { host: HOST, path: `/.gatehouse/sign_in?rd=${encodeURIComponent(rd)}`, login: (url) => p.login(url, 'alice') })
    t.equal(callback.headers.location, `${ORIGIN}/`, `signed in with rd ${rd}: home instead`)
  }
})

t.test('sign_in: every rd classic lands on our own origin after signing in', async (t) => {
  const { gh, p } = await setup(t)
  for (const rd of ATTACKS) {
    const { callback } = await signIn(gh.port, { host: HOST, path: `/.gatehouse/sign_in?rd=${encodeURIComponent(rd)}`, login: (url) => p.login(url, 'alice') })
    t.equal(callback.status, 302, `${JSON.stringify(rd).slice(0, 80)}: 302`)
    t.ok(landsHome(callback.headers.location as string | undefined), `${JSON.stringify(rd).slice(0, 80)}: lands on ${callback.headers.location}`)
  }
})

t.test('the sign-in page a protected route sends to cannot be bent by the request either', async (t) => {
  const { gh, up } = await setup(t)
  // The rd Gatehouse builds from the request target: the target is normalised first, so
  // no target can make it leave the origin.
  for (const target of ['//evil.com/', '/\\evil.com', '/%5Cevil.com', '/..//evil.com', '/.//evil.com']) {
    const res = await request(gh.port, { path: target, headers: { host: HOST, accept: 'text/html' } })
    t.ok([302, 400].includes(res.status), `${target}: ${res.status}`)
    if (res.status === 302) {
      const rd = new URL(res.headers.location as string, ORIGIN).searchParams.get('rd') ?? ''
      t.ok(landsHome(rd), `${target}: rd ${rd}`)
    }
  }
  t.equal(up.received.length, 0)
})
