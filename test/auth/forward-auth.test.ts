// /.gatehouse/auth for nginx auth_request, Traefik ForwardAuth and Caddy forward_auth.

import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t from 'tap'
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
