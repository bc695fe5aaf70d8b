// /.gatehouse/auth for nginx auth_request, Traefik ForwardAuth and Caddy forward_auth.

import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'

import { signIn, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { gatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'

const SECRET = randomBytes(32).toString('base64')

t.test('forward-auth answers 200 with identity, 401/302 without a session, 403 when denied', async (t) => {
  const provider = await idp(t)
  provider.registerClient({ ...TEST_CLIENT, client_id: 'fa', redirect_uris: ['http://app.test/oauth2/callback'] })
  const config = (trusted: string) => `
trusted_proxies: [${trusted}]
idps:
  - id: test
    issuer: ${provider.issuer}
    client_id: fa
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups]
session:
  secrets: [${SECRET}]
routes:
  - name: app
    from: http://app.test
    to: http://127.0.0.1:9
    policy:
      - allow: { or: [{ groups: { has: admins } }, { groups: { has: developers } }] }
      - deny: { and: [{ http_path: { starts_with: /admin } }, { groups: { exclude: admins } }] }
`
  const gh = await gatehouse(t, config('127.0.0.1'))
  await waitReady(gh.port, 'x')

  // Sign bob and alice in through the normal flow on app.test.
  const sessionFor = async (user: string) => (await signIn(gh.port, { host: 'app.test', login: (url) => provider.login(url, user) })).jar.header()
  const bob = await sessionFor('bob')
  const alice = await sessionFor('alice')

  const nginx = (url: string, cookie?: string, method = 'GET') =>
    request(gh.port, {
      path: '/.gatehouse/auth',
      headers: { host: 'auth.internal', 'x-original-url': url, 'x-original-method': method, ...(cookie ? { cookie } : {}) },
    })
  const traefik = (host: string, uri: string, cookie?: string, accept = 'text/html') =>
    request(gh.port, {
      path: '/.gatehouse/auth',
      headers: {
        host: 'auth.internal',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': host,
        'x-forwarded-uri': uri,
        'x-forwarded-method': 'GET',
        accept,
        ...(cookie ? { cookie } : {}),
      },
    })

  const ok = await nginx('http://app.test/reports?q=1', bob)
  t.equal(ok.status, 200)
  t.equal(ok.headers['x-auth-request-user'], 'bob')
  t.equal(ok.headers['x-auth-request-email'], 'bob@example.com')
  t.equal(ok.headers['x-auth-request-groups'], 'developers')
  const jwks = JSON.parse((await request(gh.port, { path: '/.well-known/gatehouse/jwks.json', headers: { host: 'x' } })).text)
  const { payload } = await jwtVerify(String(ok.headers['x-gatehouse-jwt-assertion']), createLocalJWKSet(jwks), { audience: 'app.test' })
  t.equal(payload.sub, 'bob')

  t.equal((await nginx('http://app.test/admin/users', bob)).status, 403, 'the deny rule applies to the described path')
  t.equal((await nginx('http://app.test/admin/users', alice)).status, 200)
  t.equal((await nginx('http://app.test/a/../admin/users', bob)).status, 403, 'normalised before judging')
  t.equal((await nginx('http://app.test/%2e%2e/x', bob)).status, 400)
  t.equal((await nginx('http://other.test/', bob)).status, 404)

  const anonymousNginx = await nginx('http://app.test/reports')
  t.equal(anonymousNginx.status, 401, 'nginx gets 401 (auth_request knows no redirects)')
  t.match(JSON.parse(anonymousNginx.text), {
    error: 'GH_ERR_UNAUTHENTICATED',
    sign_in_url: `http://app.test/.gatehouse/sign_in?rd=${encodeURIComponent('http://app.test/reports')}`,
  })

  const anonymousTraefik = await traefik('app.test', '/reports')
  t.equal(anonymousTraefik.status, 302, 'a browser behind Traefik is redirected')
  t.equal(anonymousTraefik.headers.location, `http://app.test/.gatehouse/sign_in?rd=${encodeURIComponent('http://app.test/reports')}`)
  t.equal((await traefik('app.test', '/reports', undefined, 'application/json')).status, 401, 'an API call behind Traefik gets 401')
  t.equal((await traefik('app.test', '/reports', alice)).status, 200)

  t.equal((await request(gh.port, { path: '/.gatehouse/auth', headers: { host: 'auth.internal' } })).status, 400, 'nothing described')
})

t.test('only trusted proxies may ask', async (t) => {
  const gh = await gatehouse(
    t,
    'trusted_proxies: [10.9.9.9]\nroutes:\n  - from: http://app.test\n    to: http://127.0.0.1:9\n    allow_public_unauthenticated_access: true\n',
  )
  const res = await request(gh.port, { path: '/.gatehouse/auth', headers: { host: 'auth.internal', 'x-original-url': 'http://app.test/' } })
  t.equal(res.status, 403)
  t.match(res.text, /trusted_proxies/)
})

/** A route open at /public and closed elsewhere, behind a trusted caller of `style`. */
async function spoofSetup(t: Test, style?: string) {
  return gatehouse(
    t,
    `trusted_proxies: [127.0.0.1]
${style ? `forward_auth:\n  style: ${style}\n` : ''}routes:
  - from: http://app.test
    prefix: /public
    to: http://127.0.0.1:9
    allow_public_unauthenticated_access: true
  - from: http://app.test
    to: http://127.0.0.1:9
    policy:
      - allow: { or: [{ authenticated_user: true }] }
  - from: http://open.test
    to: http://127.0.0.1:9
    allow_public_unauthenticated_access: true
`,
  )
}

const call = (port: number, headers: Record<string, string>) =>
  request(port, { path: '/.gatehouse/auth', headers: { host: 'auth.internal', accept: 'application/json', ...headers } })

const traefikAsking = (uri: string, host = 'app.test') => ({
  'x-forwarded-proto': 'https',
  'x-forwarded-host': host,
  'x-forwarded-uri': uri,
  'x-forwarded-method': 'GET',
})

t.test('a client behind Traefik or Caddy cannot describe another request with X-Original-URL', async (t) => {
  const gh = await spoofSetup(t)
  // Traefik forwards the client's headers as they are: the client adds X-Original-URL.
  const spoofed = await call(gh.port, { ...traefikAsking('/private'), 'x-original-url': 'http://app.test/public/x' })
  t.equal(spoofed.status, 400, 'both kinds at once: refused, never judged as the public path')
  t.match(JSON.parse(spoofed.text), { error: 'GH_ERR_BAD_REQUEST', detail: /both X-Original-URL .* and X-Forwarded-Uri/ })
  const otherHost = await call(gh.port, { ...traefikAsking('/private'), 'x-original-url': 'http://open.test/' })
  t.equal(otherHost.status, 400, 'nor by naming another route host')
  t.equal((await call(gh.port, traefikAsking('/private'))).status, 401, 'the real request needs a sign-in')
})

t.test('forward_auth.style decides which headers describe the request', async (t) => {
  const traefik = await spoofSetup(t, 'traefik')
  const ignored = await call(traefik.port, { ...traefikAsking('/private'), 'x-original-url': 'http://app.test/public/x' })
  t.equal(ignored.status, 401, 'traefik style: X-Original-URL is ignored; the forwarded request is judged')
  t.equal((await call(traefik.port, { 'x-original-url': 'http://app.test/public/x' })).status, 400, 'traefik style needs the X-Forwarded-* headers')

  const nginx = await spoofSetup(t, 'nginx')
  t.equal(
    (await call(nginx.port, { 'x-original-url': 'http://app.test/public/x', ...traefikAsking('/private') })).status,
    200,
    'nginx style: only X-Original-URL counts',
  )
  t.equal((await call(nginx.port, { 'x-original-url': 'http://app.test/private' })).status, 401)
  t.equal((await call(nginx.port, traefikAsking('/public/x'))).status, 400, 'nginx style needs X-Original-URL')
})

t.test('X-Forwarded-Proto must be http or https: it is where the browser is sent to sign in', async (t) => {
  const gh = await spoofSetup(t)
  for (const proto of ['javascript', 'https://evil.example/#', 'ftp', '']) {
    const res = await call(gh.port, { ...traefikAsking('/private'), 'x-forwarded-proto': proto, accept: 'text/html' })
    t.equal(res.status, 400, `X-Forwarded-Proto ${JSON.stringify(proto)} is refused`)
    t.equal(res.headers.location, undefined, 'and no redirect is built from it')
  }
  const fine = await call(gh.port, { ...traefikAsking('/private'), 'x-forwarded-proto': 'HTTPS', accept: 'text/html' })
  t.equal(fine.status, 302)
  t.match(fine.headers.location, /^https:\/\/app\.test\/\.gatehouse\/sign_in\?rd=/)
})
