// The OpenID provider tests sign in through (test/helpers/idp.ts) and the dev IdP of
// `npm start` (src/demo/dev-idp.ts on src/demo/oidc-provider.ts): discovery, a whole code flow with plain HTTP, ID
// token verification against the JWKS, userinfo, refresh, logout, and the variants
// real IdPs need (ES256, client_secret_post, no PKCE, minimal ID tokens, issuer paths).

import t, { type Test } from 'tap'
import { fetch } from 'undici'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import { idp as startTestIdp, pkcePair, NAMESPACED_ROLES_CLAIM, TEST_CLIENT, type TestIdp, type IdpOptions } from '../helpers/idp.js'
import { startDevIdp, DEMO_USERS } from '../../src/demo/dev-idp.js'
import { refuseInProduction } from '../../src/demo/production.js'
import { GatehouseError } from '../../src/errors.js'

const CALLBACK = 'http://127.0.0.1:18080/oauth2/callback'
const SIGNED_OUT = 'http://127.0.0.1:18080/.gatehouse/signed_out'
const client = { client_id: 'gatehouse', client_secret: 'gh-secret', redirect_uris: [CALLBACK], post_logout_redirect_uris: [SIGNED_OUT] }

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

interface Authorization {
  url: string
  state: string
  nonce: string
  verifier: string
}

/** An authorization request URL, with PKCE S256 unless `pkce: false`. */
function authorize(idp: TestIdp, params: Record<string, string> = {}, pkce = true): Authorization {
  const { verifier, challenge } = pkcePair()
  const state = `state-${Math.random().toString(36).slice(2)}`
  const nonce = `nonce-${Math.random().toString(36).slice(2)}`
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: 'openid email profile groups roles offline_access',
    state,
    nonce,
    ...(pkce ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
    ...params,
  }).toString()
  return { url: url.href, state, nonce, verifier }
}

interface TokenAnswer {
  status: number
  body: { access_token?: string; id_token?: string; refresh_token?: string; expires_in?: number; scope?: string; error?: string; token_type?: string }
}

/** A token request with client_secret_basic (or the given headers/body extras). */
async function token(
  idp: TestIdp,
  form: Record<string, string>,
  auth: 'basic' | 'post' = 'basic',
  id = client.client_id,
  secret = client.client_secret,
): Promise<TokenAnswer> {
  const body = new URLSearchParams(form)
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
  if (auth === 'basic') headers.authorization = basic(id, secret)
  else {
    body.set('client_id', id)
    body.set('client_secret', secret)
  }
  const res = await fetch(idp.endpoints.token, { method: 'POST', headers, body: body.toString() })
  return { status: res.status, body: (await res.json()) as TokenAnswer['body'] }
}

/** Signs `user` in and exchanges the code: the whole flow, asserting the redirect. */
async function signIn(t: Test, idp: TestIdp, user = 'alice', params: Record<string, string> = {}) {
  const auth = authorize(idp, params)
  const back = new URL(await idp.login(auth.url, user))
  t.equal(back.origin + back.pathname, CALLBACK, 'back at the redirect_uri')
  t.equal(back.searchParams.get('state'), auth.state, 'state comes back')
  t.equal(back.searchParams.get('iss'), idp.issuer, 'RFC 9207 iss is the issuer')
  const code = back.searchParams.get('code')
  t.ok(code, 'a code')
  const answer = await token(idp, { grant_type: 'authorization_code', code: code!, redirect_uri: CALLBACK, code_verifier: auth.verifier })
  t.equal(answer.status, 200, `token exchange: ${JSON.stringify(answer.body)}`)
  return { auth, tokens: answer.body }
}

async function verifyIdToken(idp: TestIdp, idToken: string, algorithms = ['RS256']): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(idp.endpoints.jwks))
  const { payload } = await jwtVerify(idToken, jwks, { issuer: idp.issuer, audience: client.client_id, algorithms })
  return payload
}

const newIdp = (t: Test, options: IdpOptions = {}) => startTestIdp(t, { clients: [client], ...options })

t.test('discovery lists the issuer, endpoints, PKCE S256, the iss parameter and both signing algs', async (t) => {
  const idp = await newIdp(t)
  t.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(idp.port, Number(new URL(idp.issuer).port))
  const res = await fetch(idp.discoveryUrl)
  t.equal(res.status, 200)
  const doc = (await res.json()) as Record<string, unknown>
  t.equal(doc.issuer, idp.issuer)
  t.equal(doc.authorization_endpoint, `${idp.issuer}/auth`)
  t.equal(doc.token_endpoint, `${idp.issuer}/token`)
  t.equal(doc.userinfo_endpoint, `${idp.issuer}/me`)
  t.equal(doc.jwks_uri, `${idp.issuer}/jwks`)
  t.equal(doc.end_session_endpoint, `${idp.issuer}/session/end`)
  t.same(doc.code_challenge_methods_supported, ['S256'])
  t.equal(doc.authorization_response_iss_parameter_supported, true)
  t.same(doc.id_token_signing_alg_values_supported, ['RS256', 'ES256'])
  t.ok((doc.token_endpoint_auth_methods_supported as string[]).includes('client_secret_basic'))
  t.ok((doc.token_endpoint_auth_methods_supported as string[]).includes('client_secret_post'))
  for (const scope of ['openid', 'email', 'profile', 'groups', 'roles', 'offline_access']) {
    t.ok((doc.scopes_supported as string[]).includes(scope), `scope ${scope}`)
  }
  t.ok((doc.claims_supported as string[]).includes(NAMESPACED_ROLES_CLAIM))
  t.ok((doc.grant_types_supported as string[]).includes('refresh_token'))
  t.same(idp.endpoints, {
    authorization: doc.authorization_endpoint,
    token: doc.token_endpoint,
    userinfo: doc.userinfo_endpoint,
    jwks: doc.jwks_uri,
    endSession: doc.end_session_endpoint,
  })
  const jwks = (await (await fetch(idp.endpoints.jwks)).json()) as { keys: Record<string, unknown>[] }
  t.same(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'RS256'])
  t.notOk(
    jwks.keys.some((k) => 'd' in k),
    'no private parts published',
  )
  t.equal(idp.counts.discovery, 1)
  t.equal(idp.counts.jwks, 1)
})

t.test('a whole code flow with plain HTTP: PKCE, login, code with iss, basic auth, verified ID token, userinfo, refresh', async (t) => {
  const idp = await newIdp(t)
  const { auth, tokens } = await signIn(t, idp, 'alice')
  t.equal(tokens.token_type, 'Bearer')
  t.equal(tokens.expires_in, 60, 'short access token lifetime by default')
  t.ok(tokens.refresh_token, 'offline_access gives a refresh token')
  t.equal(tokens.scope, 'openid email profile groups roles offline_access')

  t.equal(decodeProtectedHeader(tokens.id_token!).alg, 'RS256')
  const claims = await verifyIdToken(idp, tokens.id_token!)
  t.equal(claims.sub, 'alice')
  t.equal(claims.nonce, auth.nonce)
  t.equal(claims.email, 'alice@example.com')
  t.equal(claims.email_verified, true)
  t.equal(claims.preferred_username, 'alice')
  t.same(claims.groups, ['admins', 'Kasm Premium'])
  t.same(claims[NAMESPACED_ROLES_CLAIM], ['admin'])
  t.same(claims.org, { department: 'engineering', teams: ['platform', 'security'] }, 'a nested (Cloudentity-style) claim')

  const userinfo = await fetch(idp.endpoints.userinfo!, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(userinfo.status, 200)
  const info = (await userinfo.json()) as Record<string, unknown>
  t.equal(info.sub, claims.sub, 'userinfo has the same sub')
  t.equal(info.email, 'alice@example.com')
  t.same(info.groups, ['admins', 'Kasm Premium'])

  const refreshed = await token(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! })
  t.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
  t.ok(refreshed.body.access_token)
  t.not(refreshed.body.access_token, tokens.access_token, 'a new access token')
  const again = await verifyIdToken(idp, refreshed.body.id_token!)
  t.equal(again.sub, 'alice')

  t.equal(idp.counts.authorization, 1)
  t.equal(idp.counts.token, 2)
  t.equal(idp.counts.userinfo, 1)
  const tokenCalls = idp.calls.filter((c) => c.route === 'token')
  t.same(
    tokenCalls.map((c) => [c.grantType, c.clientAuth, c.status]),
    [
      ['authorization_code', 'client_secret_basic', 200],
      ['refresh_token', 'client_secret_basic', 200],
    ],
  )
})

t.test('a code is single use, and PKCE is checked', async (t) => {
  const idp = await newIdp(t)
  const auth = authorize(idp)
  const code = new URL(await idp.login(auth.url, 'bob')).searchParams.get('code')!
  const wrong = await token(idp, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: pkcePair().verifier })
  t.equal(wrong.status, 400)
  t.equal(wrong.body.error, 'invalid_grant', 'a wrong code_verifier is refused')

  const auth2 = authorize(idp)
  const code2 = new URL(await idp.login(auth2.url, 'bob')).searchParams.get('code')!
  t.equal((await token(idp, { grant_type: 'authorization_code', code: code2, redirect_uri: CALLBACK, code_verifier: auth2.verifier })).status, 200)
  const replay = await token(idp, { grant_type: 'authorization_code', code: code2, redirect_uri: CALLBACK, code_verifier: auth2.verifier })
  t.equal(replay.body.error, 'invalid_grant', 'a used code is refused')
  t.equal(idp.calls.filter((c) => c.route === 'token' && c.error === 'invalid_grant').length, 2)

  const withoutPkce = new URL(await idp.login(authorize(idp, {}, false).url, 'bob'))
  t.equal(withoutPkce.searchParams.get('error'), 'invalid_request', 'PKCE is required by default')
  t.equal(withoutPkce.searchParams.get('iss'), idp.issuer, 'errors carry iss too')
})

t.test('a client registered with client_secret_post must use it; basic is refused for it', async (t) => {
  const idp = await newIdp(t, { clients: [{ ...client, token_endpoint_auth_method: 'client_secret_post' }] })
  const auth = authorize(idp)
  const code = new URL(await idp.login(auth.url, 'alice')).searchParams.get('code')!
  const refused = await token(idp, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: auth.verifier }, 'basic')
  t.equal(refused.body.error, 'invalid_client')
  const auth2 = authorize(idp)
  const code2 = new URL(await idp.login(auth2.url, 'alice')).searchParams.get('code')!
  const ok = await token(idp, { grant_type: 'authorization_code', code: code2, redirect_uri: CALLBACK, code_verifier: auth2.verifier }, 'post')
  t.equal(ok.status, 200)
  t.same(
    idp.calls.filter((c) => c.route === 'token').map((c) => c.clientAuth),
    ['client_secret_basic', 'client_secret_post'],
  )
  t.equal(
    (await token(idp, { grant_type: 'refresh_token', refresh_token: ok.body.refresh_token! }, 'post', client.client_id, 'wrong')).body.error,
    'invalid_client',
    'a wrong secret is refused',
  )
  idp.resetCalls()
  t.same(idp.calls, [])
  t.equal(idp.counts.token, 0, 'counts reset')

  const basicIdp = await newIdp(t)
  const auth3 = authorize(basicIdp)
  const code3 = new URL(await basicIdp.login(auth3.url, 'alice')).searchParams.get('code')!
  const viaPost = await token(basicIdp, { grant_type: 'authorization_code', code: code3, redirect_uri: CALLBACK, code_verifier: auth3.verifier }, 'post')
  t.equal(viaPost.status, 401)
  t.equal(viaPost.body.error, 'invalid_client', 'a client_secret_basic client (the default) may not use post')
  const retry = await token(basicIdp, { grant_type: 'authorization_code', code: code3, redirect_uri: CALLBACK, code_verifier: auth3.verifier }, 'basic')
  t.equal(retry.status, 200, 'the refused attempt did not use up the code')
})

t.test('ES256 ID tokens for a client that asks for them', async (t) => {
  const idp = await newIdp(t, { clients: [{ ...client, id_token_signed_response_alg: 'ES256' }] })
  const { tokens } = await signIn(t, idp, 'bob')
  t.equal(decodeProtectedHeader(tokens.id_token!).alg, 'ES256')
  const claims = await verifyIdToken(idp, tokens.id_token!, ['ES256'])
  t.same(claims.groups, ['developers'])
  await t.rejects(verifyIdToken(idp, tokens.id_token!, ['RS256']), 'not accepted as RS256')
})

t.test('scopes decide the claims; idTokenClaims minimal leaves them to userinfo', async (t) => {
  const idp = await newIdp(t)
  const { tokens } = await signIn(t, idp, 'alice', { scope: 'openid email' })
  const claims = await verifyIdToken(idp, tokens.id_token!)
  t.equal(claims.email, 'alice@example.com')
  t.notOk('groups' in claims, 'no groups without the groups scope')
  t.notOk(NAMESPACED_ROLES_CLAIM in claims, 'no roles without the roles scope')
  t.notOk('name' in claims, 'no profile claims without profile')
  t.same(claims.org, { department: 'engineering', teams: ['platform', 'security'] }, 'a claim no scope maps is always released')
  t.notOk(tokens.refresh_token, 'no refresh token without offline_access')

  const minimal = await newIdp(t, { idTokenClaims: 'minimal' })
  const m = await signIn(t, minimal, 'alice')
  const idClaims = await verifyIdToken(minimal, m.tokens.id_token!)
  t.equal(idClaims.sub, 'alice')
  t.notOk('email' in idClaims, 'minimal ID token (Authelia style)')
  t.notOk('groups' in idClaims)
  const info = (await (await fetch(minimal.endpoints.userinfo!, { headers: { authorization: `Bearer ${m.tokens.access_token}` } })).json()) as Record<
    string,
    unknown
  >
  t.equal(info.email, 'alice@example.com')
  t.same(info.groups, ['admins', 'Kasm Premium'])
  t.same(info[NAMESPACED_ROLES_CLAIM], ['admin'])
})

t.test('extra scope mappings, e.g. an Auth0-style auth0/roles claim under groups', async (t) => {
  const idp = await newIdp(t, {
    scopes: { groups: ['groups', 'auth0/roles'] },
    users: [{ id: 'erin', email: 'erin@example.com', groups: ['staff'], claims: { 'auth0/roles': ['Kasm Premium'] } }],
  })
  const { tokens } = await signIn(t, idp, 'erin', { scope: 'openid groups' })
  const claims = await verifyIdToken(idp, tokens.id_token!)
  t.same(claims['auth0/roles'], ['Kasm Premium'])
  t.same(claims.groups, ['staff'])
  t.notOk('email' in claims)
})

t.test('users are live: a refresh after a change carries the new groups; a removed user cannot refresh', async (t) => {
  const idp = await newIdp(t, { accessTokenTtl: 5 })
  const { tokens } = await signIn(t, idp, 'bob')
  t.equal(tokens.expires_in, 5)
  idp.users.find((u) => u.id === 'bob')!.groups = ['developers', 'admins']
  const refreshed = await token(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! })
  t.same((await verifyIdToken(idp, refreshed.body.id_token!)).groups, ['developers', 'admins'])
  idp.users.splice(
    idp.users.findIndex((u) => u.id === 'bob'),
    1,
  )
  const gone = await token(idp, { grant_type: 'refresh_token', refresh_token: refreshed.body.refresh_token ?? tokens.refresh_token! })
  t.equal(gone.body.error, 'invalid_grant')
})

t.test('offline_access brings a refresh token with or without prompt=consent, as Auth0 and Keycloak do', async (t) => {
  const idp = await newIdp(t)
  const { tokens } = await signIn(t, idp, 'alice')
  t.ok(tokens.refresh_token, 'without prompt')
  const { tokens: consented } = await signIn(t, idp, 'alice', { prompt: 'consent' })
  t.ok(consented.refresh_token, 'with prompt=consent')
})

t.test('a browser keeps its session (SSO), and RP-initiated logout ends it', async (t) => {
  const idp = await newIdp(t)
  const browser = idp.browser()
  const first = new URL(await browser.login(authorize(idp).url, 'carol'))
  t.ok(first.searchParams.get('code'))
  t.ok(
    Object.keys(browser.cookies).some((name) => name.startsWith('_test_idp_session')),
    'a session cookie',
  )
  const loginsBefore = idp.calls.filter((c) => c.path.endsWith('/login')).length

  const sso = authorize(idp)
  const second = new URL(await browser.login(sso.url))
  t.equal(second.searchParams.get('state'), sso.state)
  t.equal(idp.calls.filter((c) => c.path.endsWith('/login')).length, loginsBefore, 'no login the second time')
  const { body } = await token(idp, {
    grant_type: 'authorization_code',
    code: second.searchParams.get('code')!,
    redirect_uri: CALLBACK,
    code_verifier: sso.verifier,
  })
  t.equal((await verifyIdToken(idp, body.id_token!)).sub, 'carol')

  const end = new URL(idp.endpoints.endSession!)
  end.search = new URLSearchParams({ id_token_hint: body.id_token!, post_logout_redirect_uri: SIGNED_OUT, state: 'bye' }).toString()
  t.equal(await browser.logout(end.href), `${SIGNED_OUT}?state=bye`)
  t.equal(idp.counts.endSession, 1)
  t.equal(idp.counts.endSessionConfirm, 1)
  t.notOk(
    Object.keys(browser.cookies).some((name) => name.startsWith('_test_idp_session')),
    'the session cookie is gone',
  )
  await t.rejects(browser.login(authorize(idp).url), /asks to sign in/, 'signing in again needs the login page')
  const userinfo = await fetch(idp.endpoints.userinfo!, { headers: { authorization: `Bearer ${body.access_token}` } })
  t.ok(userinfo.status === 200 || userinfo.status === 401, 'userinfo answers')

  const unregistered = new URL(idp.endpoints.endSession!)
  unregistered.search = new URLSearchParams({ client_id: client.client_id, post_logout_redirect_uri: 'https://evil.example/' }).toString()
  await t.rejects(idp.browser().logout(unregistered.href), /400/, 'an unregistered post_logout_redirect_uri is refused')
})

t.test('Cancel on the login page sends access_denied back; unknown users and bad clients get error pages', async (t) => {
  const idp = await newIdp(t)
  const auth = authorize(idp)
  const back = new URL(await idp.browser().cancel(auth.url))
  t.equal(back.searchParams.get('error'), 'access_denied')
  t.equal(back.searchParams.get('state'), auth.state)
  t.equal(back.searchParams.get('iss'), idp.issuer)
  await t.rejects(idp.login(authorize(idp).url, 'mallory'), /no such user: mallory/)
  await t.rejects(idp.login(authorize(idp, { redirect_uri: 'https://evil.example/cb' }).url, 'alice'), /redirect_uri/)
  await t.rejects(idp.login(authorize(idp, { client_id: 'nobody' }).url, 'alice'), /client/)
})

t.test('pkce unsupported: not advertised, refused when sent, and the flow works without it', async (t) => {
  const idp = await newIdp(t, { pkce: 'unsupported' })
  const doc = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, unknown>
  t.notOk('code_challenge_methods_supported' in doc)
  await t.rejects(idp.login(authorize(idp).url, 'alice'), /PKCE/)
  t.match(idp.calls.at(-1), { route: 'authorization', status: 400 }, 'the refusal is counted as an authorization request')
  const auth = authorize(idp, {}, false)
  const code = new URL(await idp.login(auth.url, 'alice')).searchParams.get('code')!
  const answer = await token(idp, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK })
  t.equal(answer.status, 200)

  const optional = await newIdp(t, { pkce: 'optional' })
  const plain = authorize(optional, {}, false)
  const plainCode = new URL(await optional.login(plain.url, 'alice')).searchParams.get('code')!
  t.equal((await token(optional, { grant_type: 'authorization_code', code: plainCode, redirect_uri: CALLBACK })).status, 200, 'optional: works without')
  const withPkce = authorize(optional)
  const pkceCode = new URL(await optional.login(withPkce.url, 'alice')).searchParams.get('code')!
  t.equal(
    (await token(optional, { grant_type: 'authorization_code', code: pkceCode, redirect_uri: CALLBACK, code_verifier: withPkce.verifier })).status,
    200,
    'optional: and with',
  )
})

t.test('issuer paths: Auth0-style trailing slash and a mounted /oidc', async (t) => {
  for (const issuerPath of ['/', '/oidc']) {
    const idp = await newIdp(t, { issuerPath })
    t.ok(idp.issuer.endsWith(issuerPath), idp.issuer)
    const doc = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, string>
    t.equal(doc.issuer, idp.issuer, `discovery issuer for ${issuerPath}`)
    t.equal(doc.token_endpoint, idp.endpoints.token)
    const { tokens } = await signIn(t, idp, 'alice')
    t.equal((await verifyIdToken(idp, tokens.id_token!)).iss, idp.issuer)
  }
  const mounted = await newIdp(t, { issuerPath: '/oidc' })
  t.equal((await fetch(`${new URL(mounted.issuer).origin}/.well-known/openid-configuration`)).status, 404, 'nothing outside the mount')
})

t.test('userinfo and logout can be switched off; clients can be registered at run time', async (t) => {
  const idp = await newIdp(t, { userinfo: false, logout: false })
  const doc = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, unknown>
  t.notOk('userinfo_endpoint' in doc)
  t.notOk('end_session_endpoint' in doc)

  const late = 'http://127.0.0.1:18081/oauth2/callback'
  await idp.registerClient({ client_id: 'late', client_secret: 'late-secret', redirect_uris: [late] })
  const { verifier, challenge } = pkcePair()
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({
    client_id: 'late',
    redirect_uri: late,
    response_type: 'code',
    scope: 'openid',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()
  const code = new URL(await idp.login(url.href, 'alice')).searchParams.get('code')!
  const answer = await token(idp, { grant_type: 'authorization_code', code, redirect_uri: late, code_verifier: verifier }, 'basic', 'late', 'late-secret')
  t.equal(answer.status, 200)
  await t.rejects(idp.registerClient({ ...client }), /statically/)
})

t.test('the default test client and users', async (t) => {
  const idp = await startTestIdp(t)
  t.same(
    idp.clients.map((c) => c.client_id),
    [TEST_CLIENT.client_id],
  )
  t.same(
    idp.users.map((u) => u.id),
    ['alice', 'bob', 'carol'],
  )
})

t.test('the dev IdP: demo users on a login page labelled DEMO', async (t) => {
  const redirect = 'http://127.0.0.1:18082/oauth2/callback'
  const dev = await startDevIdp({ host: '127.0.0.1', port: 0, clients: [{ client_id: 'demo', client_secret: 'demo-secret', redirect_uris: [redirect] }] })
  t.teardown(() => dev.close())
  t.match(dev.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  const doc = (await (await fetch(`${dev.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>
  t.equal(doc.issuer, dev.issuer)

  const url = new URL(doc.authorization_endpoint as string)
  url.search = new URLSearchParams({
    client_id: 'demo',
    redirect_uri: redirect,
    response_type: 'code',
    scope: 'openid email profile groups',
    state: 's1',
  }).toString()
  const first = await fetch(url, { redirect: 'manual' })
  t.equal(first.status, 303)
  const cookies = first.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ')
  t.match(cookies, /_gatehouse_devidp_interaction=/, "its own cookie names, apart from Gatehouse's")
  const loginPage = await fetch(new URL(first.headers.get('location')!, url), { headers: { cookie: cookies } })
  t.equal(loginPage.status, 200)
  const html = await loginPage.text()
  t.match(html, /DEMO/)
  t.match(html, /DEMO ONLY/)
  t.ok(DEMO_USERS.length >= 3 && DEMO_USERS.length <= 4)
  for (const user of DEMO_USERS) t.match(html, new RegExp(`<button type="submit" name="account" value="${user.id}"`), `a button for ${user.id}`)
  t.match(html, /groups: admins/)
  t.match(html, /no groups/)
  t.notMatch(html, /https:\/\/fonts|<script/i, 'nothing loaded from elsewhere')

  // The same page, driven as a browser would: press "alice".
  const form = html.match(/<form method="post" action="([^"]+)" id="login">/)!
  const submitted = await fetch(new URL(form[1], url), {
    method: 'POST',
    headers: { cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'account=alice',
    redirect: 'manual',
  })
  t.equal(submitted.status, 303)
  t.match(submitted.headers.get('location'), /\/auth\//, 'back to the authorization endpoint to finish')
})

t.test('the dev IdP and the demo upstream refuse NODE_ENV=production with GH_ERR_DEMO_IN_PRODUCTION', async (t) => {
  const before = process.env.NODE_ENV
  process.env.NODE_ENV = 'production'
  t.teardown(() => {
    if (before === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = before
  })
  const refused = await startDevIdp({ host: '127.0.0.1', port: 0, clients: [] }).then(
    () => undefined,
    (err: unknown) => err,
  )
  t.ok(refused instanceof GatehouseError)
  t.match(refused, { code: 'GH_ERR_DEMO_IN_PRODUCTION', status: 500, message: /NODE_ENV=production/ })
  t.throws(() => refuseInProduction('the demo upstream echoes requests'), { code: 'GH_ERR_DEMO_IN_PRODUCTION', status: 500 })
})
