// Signing in through an OpenID provider that misbehaves in one way at a time (a bad
// signature, alg none, wrong claims, a forged state, a replayed code, a wrong `iss`
// response parameter, another subject at userinfo, rotated and unknown keys). Every fault
// must end at the error page with no session; the same provider without a fault signs
// the user in, so the faults are what cause the refusals.

import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { browse, CookieJar, setCookies, signIn, waitReady } from '../helpers/browser.js'
import { request, type Reply } from '../helpers/client.js'
import { fakeIdp, type FakeIdp, type FakeIdpOptions } from '../helpers/fake-idp.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { upstream, type EchoUpstream, type Teardown } from '../helpers/upstream.js'

const HOST = 'app.test'
const SECRET = randomBytes(32).toString('base64')
const SESSION_COOKIE = /^_gatehouse(?:_\d+)?$/

interface Setup {
  gh: RunningGatehouse
  op: FakeIdp
  app: EchoUpstream
}

/** A fake IdP, an upstream open to any signed-in user, and Gatehouse between them.
 *  `idpYaml` is more keys for the idp item, each line indented by four spaces. */
async function setup(t: Teardown, options: { idp?: FakeIdpOptions; idpYaml?: string; clientSecret?: string } = {}): Promise<Setup> {
  const op = await fakeIdp(t, options.idp)
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `
idps:
  - id: fake
    issuer: ${op.issuer}
    client_id: ${JSON.stringify(op.clientId)}
    client_secret: ${JSON.stringify(options.clientSecret ?? op.clientSecret)}
${options.idpYaml ?? ''}session:
  secrets: [${SECRET}]
routes:
  - name: app
    from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
  )
  await waitReady(gh.port, HOST)
  if (op.counts.discovery === 0) throw new Error('Gatehouse never fetched the discovery document')
  return { gh, op, app }
}

/** Session cookies a reply sets with a value (not the ones it clears). */
function sessionCookiesSet(reply: Reply): string[] {
  return setCookies(reply).filter((line) => {
    const [pair] = line.split(';')
    const eq = pair.indexOf('=')
    return SESSION_COOKIE.test(pair.slice(0, eq)) && pair.slice(eq + 1) !== '' && !/Max-Age=0/i.test(line)
  })
}

const SIGN_IN = `/.gatehouse/sign_in?rd=${encodeURIComponent(`http://${HOST}/private`)}`

/** Gatehouse sends the browser to the fake IdP's authorization endpoint. */
function checkAuthorizationUrl(s: Setup, authorizationUrl: string): void {
  if (!authorizationUrl.startsWith(`${s.op.issuer}/authorize?`)) throw new Error(`sign_in sent the browser to ${authorizationUrl}`)
}

/** The IdP sends the browser back to Gatehouse's callback. */
function checkCallbackUrl(back: URL): void {
  if (`${back.origin}${back.pathname}` !== `http://${HOST}/oauth2/callback`) throw new Error(`the IdP sent the browser to ${back.href}`)
}

/** Starts a sign-in as a browser would: the transaction cookie and the IdP's URL. */
async function begin(s: Setup): Promise<{ jar: CookieJar; authorizationUrl: string }> {
  const jar = new CookieJar()
  const start = await browse(s.gh.port, jar, HOST, SIGN_IN)
  if (start.status !== 302) throw new Error(`sign_in answered ${start.status}: ${start.text}`)
  const authorizationUrl = String(start.headers.location)
  checkAuthorizationUrl(s, authorizationUrl)
  return { jar, authorizationUrl }
}

/** Delivers the IdP's answer to the callback with the browser's cookies, and keeps the
 *  cookies it sets. */
function callback(s: Setup, back: URL, jar: CookieJar): Promise<Reply> {
  checkCallbackUrl(back)
  return browse(s.gh.port, jar, HOST, back.pathname + back.search)
}

/** A whole sign-in: start, the IdP's redirect back, the callback. The jar ends with every
 *  cookie the browser would then hold. */
async function attempt(s: Setup): Promise<{ reply: Reply; jar: CookieJar; back: URL }> {
  const {
    jar,
    back,
    callback: reply,
  } = await signIn(s.gh.port, {
    host: HOST,
    path: SIGN_IN,
    login: async (authorizationUrl) => {
      checkAuthorizationUrl(s, authorizationUrl)
      const back = await s.op.authorize(authorizationUrl)
      checkCallbackUrl(back)
      return back
    },
  })
  return { reply, jar, back }
}

/** The last "sign-in failed" log line's error, as "code: message". */
function lastFailure(s: Setup): string | undefined {
  const line = s.gh.logs.filter((l) => l.msg === 'sign-in failed').at(-1)
  const err = line?.err as { code?: string; reason?: string; message?: string } | undefined
  return err && `${err.code}: ${err.reason}: ${err.message}`
}

interface RefusalCheck {
  /** The error code of the logged failure, to show which kind of check refused it. (The
   *  log keeps openid-client's code and wrapper message, not the detailed cause, so this
   *  is coarse; the positive control is what shows the fault is the cause.) */
  reason?: RegExp
  /** Marks the assertions todo: Gatehouse accepts what it must refuse. */
  todo?: string
}

/** The callback answered the error page and set no session, and the browser that made
 *  it is still not signed in. */
async function assertRefused(t: Test, s: Setup, reply: Reply, jar: CookieJar, check: RefusalCheck = {}): Promise<void> {
  const extra = check.todo === undefined ? {} : { todo: check.todo }
  t.ok(reply.status >= 400 && reply.status < 500, `the callback answers 4xx (got ${reply.status})`, extra)
  t.match(reply.text, /GH_ERR_SIGN_IN_FAILED/, 'the sign-in-failed error page', extra)
  t.strictSame(sessionCookiesSet(reply), [], 'no session cookie', extra)
  if (check.reason) t.match(lastFailure(s) ?? '', check.reason, 'refused for this fault', extra)
  const before = s.app.received.length
  const page = await request(s.gh.port, { path: '/private', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })
  t.equal(page.status, 401, 'the protected route still asks to sign in', extra)
  t.equal(s.app.received.length, before, 'nothing reached the app', extra)
  const me = JSON.parse((await request(s.gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie: jar.header() } })).text)
  t.equal(me.signed_in, false, '/.gatehouse/user: not signed in', extra)
}

/** The callback set a session and the browser now reaches the app as the IdP's user. */
async function assertSignedIn(t: Test, s: Setup, reply: Reply, jar: CookieJar, sub = s.op.subject): Promise<void> {
  t.equal(reply.status, 302, `the callback redirects (${reply.status === 302 ? 'ok' : reply.text.slice(0, 300)})`)
  t.equal(reply.headers.location, `http://${HOST}/private`, 'back where the sign-in started')
  t.ok(sessionCookiesSet(reply).length > 0, 'a session cookie')
  const page = await request(s.gh.port, { path: '/private', headers: { host: HOST, cookie: jar.header(), accept: 'application/json' } })
  t.equal(page.status, 200, 'the protected route is reached')
  const me = JSON.parse((await request(s.gh.port, { path: '/.gatehouse/user', headers: { host: HOST, cookie: jar.header() } })).text)
  t.match(me, { signed_in: true, sub, idp: 'fake' }, '/.gatehouse/user: signed in')
}

/** Runs one sign-in against a fault that concerns the ID token: the token endpoint must
 *  have answered (so the refusal is Gatehouse's own check), and the sign-in is refused. */
async function refusesIdToken(t: Test, s: Setup, check: RefusalCheck): Promise<void> {
  const tokens = s.op.tokenRequests.length
  const { reply, jar } = await attempt(s)
  t.equal(s.op.tokenRequests.length, tokens + 1, 'the code was exchanged')
  t.equal(s.op.tokenRequests.at(-1)?.status, 200, 'and the IdP answered with tokens')
  await assertRefused(t, s, reply, jar, check)
}

// ---------------------------------------------------------------------------------

t.test('positive control: the same fake IdP, well-behaved, signs the user in', async (t) => {
  const s = await setup(t)
  const { reply, jar } = await attempt(s)
  await assertSignedIn(t, s, reply, jar)
  const [authz] = s.op.authorizationRequests
  t.equal(authz.redirectUri, `http://${HOST}/oauth2/callback`)
  t.equal(authz.codeChallengeMethod, 'S256', 'PKCE')
  t.ok(authz.state && authz.nonce, 'state and nonce sent')
  t.equal(s.op.tokenRequests.length, 1)
  t.equal(s.op.tokenRequests[0].status, 200)
  t.equal(s.op.counts.jwks, 1, 'the signature was checked against the JWKS')
  t.notOk(
    [...jar.keys()].some((k) => k.includes('_tx_')),
    'the transaction cookie is gone',
  )
})

t.test('the token endpoint gets client_secret_basic by default and client_secret_post when configured', async (t) => {
  // A secret with characters Basic credentials must form-urlencode (RFC 6749 2.3.1).
  const clientSecret = 'se:cr+et/=%&x y'
  t.test('default: client_secret_basic', async (t) => {
    const s = await setup(t, { idp: { clientSecret } })
    const { reply, jar } = await attempt(s)
    await assertSignedIn(t, s, reply, jar)
    const [sent] = s.op.tokenRequests
    t.equal(sent.clientAuth, 'client_secret_basic')
    t.match(sent.authorization, /^Basic [A-Za-z0-9+/=]+$/, 'an Authorization: Basic header')
    const [id, secret] = Buffer.from(sent.authorization!.slice(6), 'base64')
      .toString('utf8')
      .split(':')
      .map((part) => decodeURIComponent(part.replace(/\+/g, ' ')))
    t.strictSame([id, secret], [s.op.clientId, clientSecret], 'the client id and secret, form-urlencoded')
    t.notOk('client_secret' in sent.body, 'no client_secret in the body')
    t.equal(sent.status, 200, 'the IdP accepted the credentials')
  })
  t.test('token_endpoint_auth_method: client_secret_post', async (t) => {
    const s = await setup(t, { idp: { clientSecret }, idpYaml: '    token_endpoint_auth_method: client_secret_post\n' })
    const { reply, jar } = await attempt(s)
    await assertSignedIn(t, s, reply, jar)
    const [sent] = s.op.tokenRequests
    t.equal(sent.clientAuth, 'client_secret_post')
    t.equal(sent.authorization, undefined, 'no Authorization header')
    t.equal(sent.body.client_id, s.op.clientId)
    t.equal(sent.body.client_secret, clientSecret, 'the secret in the body')
    t.equal(sent.status, 200)
  })
  t.test('control: the fake IdP does check the secret', async (t) => {
    const s = await setup(t, { clientSecret: 'not-the-secret' })
    const { reply, jar } = await attempt(s)
    t.match(s.op.tokenRequests, [{ clientAuth: 'client_secret_basic', status: 401, error: 'invalid_client' }])
    await assertRefused(t, s, reply, jar)
  })
})

t.test('an ID token with a bad signature is refused', async (t) => {
  const s = await setup(t)
  t.test('signed with another key under the published kid', async (t) => {
    s.op.misbehave = { signing: 'wrong-key' }
    await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
  t.test('signed, then its payload changed', async (t) => {
    s.op.misbehave = { signing: 'tampered' }
    await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
})

t.test('an unsigned ID token (alg none) is refused', async (t) => {
  t.test('the IdP advertises RS256 only', async (t) => {
    const s = await setup(t)
    s.op.misbehave = { signing: 'none' }
    await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
  t.test('even when the IdP advertises none', async (t) => {
    const s = await setup(t, { idp: { discovery: { id_token_signing_alg_values_supported: ['RS256', 'none'] } } })
    s.op.misbehave = { signing: 'none' }
    // Past the alg check, the signature check knows no key for alg none.
    await refusesIdToken(t, s, { reason: /OAUTH_UNSUPPORTED_OPERATION/ })
  })
})

t.test('an ID token in an alg the IdP does not advertise (HS256 with the client secret) is refused, naming the setting', async (t) => {
  const s = await setup(t)
  s.op.misbehave = { signing: 'hs256-client-secret' }
  await refusesIdToken(t, s, { reason: /ID_TOKEN_ALG_REFUSED: .*set id_token_signed_response_alg: HS256/ })
})

t.test('an HS256 ID token the IdP advertises is still refused unless the operator asks for it', async (t) => {
  const s = await setup(t, { idp: { discovery: { id_token_signing_alg_values_supported: ['RS256', 'HS256'] } } })
  s.op.misbehave = { signing: 'hs256-client-secret' }
  await refusesIdToken(t, s, { reason: /ID_TOKEN_ALG_REFUSED: .*set id_token_signed_response_alg: HS256/ })
})

t.test('id_token_signed_response_alg: HS256 accepts ID tokens signed with the client secret, and refuses altered ones', async (t) => {
  const s = await setup(t, { idpYaml: '    id_token_signed_response_alg: HS256\n' })
  s.op.misbehave = { signing: 'hs256-client-secret' }
  const { reply, jar } = await attempt(s)
  await assertSignedIn(t, s, reply, jar)
  s.op.misbehave = { signing: 'hs256-tampered' }
  await refusesIdToken(t, s, { reason: /ID_TOKEN_SIGNATURE/ })
  s.op.misbehave = { signing: 'valid' }
  await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
})

t.test('an ID token from another issuer is refused', async (t) => {
  const s = await setup(t)
  for (const iss of ['https://evil.example', `${s.op.issuer}/`, `http://localhost:${s.op.port}`]) {
    t.test(`iss ${iss}`, async (t) => {
      s.op.misbehave = { idToken: (c) => ({ ...c, iss }) }
      await refusesIdToken(t, s, { reason: /OAUTH_JWT_CLAIM_COMPARISON_FAILED/ })
    })
  }
})

t.test('an ID token for another audience is refused', async (t) => {
  const s = await setup(t)
  for (const aud of ['another-client', ['another-client'], [], `${s.op.clientId}x`]) {
    t.test(`aud ${JSON.stringify(aud)}`, async (t) => {
      s.op.misbehave = { idToken: (c) => ({ ...c, aud }) }
      await refusesIdToken(t, s, { reason: /OAUTH_JWT_CLAIM_COMPARISON_FAILED/ })
    })
  }
})

t.test('an ID token with an extra audience and no azp is refused', async (t) => {
  const s = await setup(t)
  t.test('aud [client, other], no azp', async (t) => {
    s.op.misbehave = { idToken: (c) => ({ ...c, aud: [s.op.clientId, 'another-client'] }) }
    await refusesIdToken(t, s, { reason: /OAUTH_JWT_CLAIM_COMPARISON_FAILED/ })
  })
  t.test('aud [client, other], azp other', async (t) => {
    s.op.misbehave = { idToken: (c) => ({ ...c, aud: [s.op.clientId, 'another-client'], azp: 'another-client' }) }
    await refusesIdToken(t, s, { reason: /OAUTH_JWT_CLAIM_COMPARISON_FAILED/ })
  })
})

t.test('an expired ID token is refused', async (t) => {
  const s = await setup(t)
  s.op.misbehave = { idToken: (c) => ({ ...c, iat: c.iat! - 3600, auth_time: c.iat! - 3600, exp: c.iat! - 600 }) }
  await refusesIdToken(t, s, { reason: /OAUTH_JWT_TIMESTAMP_CHECK_FAILED/ })
})

t.test('an ID token issued in the future (iat) is refused', async (t) => {
  const s = await setup(t)
  s.op.misbehave = { idToken: (c) => ({ ...c, iat: c.iat! + 3600, exp: c.iat! + 7200 }) }
  await refusesIdToken(t, s, { reason: /ID_TOKEN_IAT_IN_FUTURE/ })
})

t.test('an ID token without sub is refused', async (t) => {
  const s = await setup(t)
  t.test('no sub', async (t) => {
    s.op.misbehave = { idToken: ({ sub: _, ...rest }) => rest }
    await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
  t.test('sub not a string', async (t) => {
    s.op.misbehave = { idToken: (c) => ({ ...c, sub: 12345 as unknown as string }) }
    await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
})

t.test('an ID token with the wrong nonce is refused', async (t) => {
  const s = await setup(t)
  t.test('another nonce', async (t) => {
    s.op.misbehave = { idToken: (c) => ({ ...c, nonce: randomBytes(24).toString('base64url') }) }
    await refusesIdToken(t, s, { reason: /OAUTH_JWT_CLAIM_COMPARISON_FAILED/ })
  })
  t.test('no nonce', async (t) => {
    s.op.misbehave = { idToken: ({ nonce: _, ...rest }) => rest }
    await refusesIdToken(t, s, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
})

t.test('an authorization response with a forged state is refused before any code is exchanged', async (t) => {
  const s = await setup(t)
  const forgeries: [string, (state: string) => string | undefined][] = [
    ['another state', () => randomBytes(24).toString('base64url')],
    ['the same first 16 characters, another tail', (state) => state.slice(0, -1) + (state.endsWith('A') ? 'B' : 'A')],
    ['no state', () => undefined],
  ]
  for (const [name, forge] of forgeries) {
    t.test(name, async (t) => {
      s.op.misbehave = {
        authorizationResponse: (params) => {
          const forged = forge(params.get('state')!)
          if (forged === undefined) params.delete('state')
          else params.set('state', forged)
        },
      }
      const { reply, jar } = await attempt(s)
      await assertRefused(t, s, reply, jar)
      t.equal(s.op.counts.token, 0, 'the token endpoint was never called')
    })
  }
})

t.test('a replayed code is refused', async (t) => {
  const s = await setup(t)
  const { jar, authorizationUrl } = await begin(s)
  const stolen = new CookieJar(jar) // the transaction cookie, as an attacker who captured it has it
  const back = await s.op.authorize(authorizationUrl)
  const first = await callback(s, back, jar)
  await assertSignedIn(t, s, first, jar)

  const replayJar = new CookieJar(stolen)
  const replay = await callback(s, back, replayJar)
  t.equal(s.op.tokenRequests.length, 2, 'the code was presented again')
  t.match(s.op.tokenRequests[1], { status: 400, error: 'invalid_grant' }, 'and the IdP refused it')
  await assertRefused(t, s, replay, replayJar, { reason: /invalid_grant/ })
})

t.test('an authorization response without iss is refused when the IdP advertises authorization_response_iss_parameter_supported', async (t) => {
  const s = await setup(t)
  s.op.misbehave = { authorizationResponse: (params) => params.delete('iss') }
  const { reply, jar } = await attempt(s)
  await assertRefused(t, s, reply, jar, { reason: /OAUTH_INVALID_RESPONSE/ })
  t.equal(s.op.counts.token, 0, 'the token endpoint was never called')
})

t.test('an authorization response with an incorrect iss is refused', async (t) => {
  const s = await setup(t)
  for (const iss of ['https://evil.example', `${s.op.issuer}/`]) {
    t.test(`iss=${iss}`, async (t) => {
      s.op.misbehave = { authorizationResponse: (params) => params.set('iss', iss) }
      const { reply, jar } = await attempt(s)
      await assertRefused(t, s, reply, jar, { reason: /OAUTH_INVALID_RESPONSE/ })
      t.equal(s.op.counts.token, 0, 'the token endpoint was never called')
    })
  }
})

t.test('userinfo describing another subject is refused (userinfo: true)', async (t) => {
  const s = await setup(t, { idpYaml: '    userinfo: true\n' })
  t.test('control: userinfo with the same sub signs in', async (t) => {
    const { reply, jar } = await attempt(s)
    await assertSignedIn(t, s, reply, jar)
    t.equal(s.op.counts.userinfo, 1, 'userinfo was asked')
  })
  t.test('userinfo with another sub', async (t) => {
    s.op.misbehave = { userinfo: (c) => ({ ...c, sub: 'mallory', email: 'mallory@example.com' }) }
    const { reply, jar } = await attempt(s)
    t.equal(s.op.counts.userinfo, 2, 'userinfo was asked')
    await assertRefused(t, s, reply, jar, { reason: /OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED/ })
  })
  t.test('userinfo without sub', async (t) => {
    s.op.misbehave = { userinfo: ({ sub: _, ...rest }) => rest }
    const { reply, jar } = await attempt(s)
    await assertRefused(t, s, reply, jar, { reason: /OAUTH_INVALID_RESPONSE/ })
  })
})

/** Moves the clock Gatehouse and the fake IdP both read (Date.now) forward, for this test. */
function advanceClock(t: Test, seconds: number): void {
  const real = Date.now
  const shifted = () => real() + seconds * 1000
  Date.now = shifted
  t.teardown(() => {
    if (Date.now === shifted) Date.now = real
  })
}

t.test('key rotation: a new key published in the JWKS is picked up once Gatehouse refetches it', async (t) => {
  const s = await setup(t)
  const before = await attempt(s)
  await assertSignedIn(t, s, before.reply, before.jar)
  t.equal(s.op.counts.jwks, 1)

  const oldKid = s.op.currentKid
  const newKid = await s.op.rotateKey()
  t.not(newKid, oldKid)
  t.strictSame(s.op.publishedKids(), [newKid, oldKid], 'both keys published')
  // Right after the rotation, with a JWKS copy seconds old: one refetch for the new kid.
  const after = await attempt(s)
  await assertSignedIn(t, s, after.reply, after.jar)
  t.equal(s.op.counts.jwks, 2, 'the JWKS was fetched again, at once')
  const again = await attempt(s)
  await assertSignedIn(t, s, again.reply, again.jar)
  t.equal(s.op.counts.jwks, 2, 'a known kid needs no fetch')
})

t.test('an ID token signed with a key whose kid is not in the JWKS is refused', async (t) => {
  const s = await setup(t)
  const good = await attempt(s)
  await assertSignedIn(t, s, good.reply, good.jar)
  s.op.misbehave = { signing: 'unknown-kid' }
  const fetched = s.op.counts.jwks
  t.test('Gatehouse looks for the kid in a fresh JWKS once', async (t) => {
    await refusesIdToken(t, s, { reason: /OAUTH_KEY_SELECTION_FAILED/ })
    t.equal(s.op.counts.jwks, fetched + 1, 'one refetch')
  })
  t.test('and not again for every token with an unknown kid (rate-limited)', async (t) => {
    await refusesIdToken(t, s, { reason: /OAUTH_KEY_SELECTION_FAILED/ })
    await refusesIdToken(t, s, { reason: /OAUTH_KEY_SELECTION_FAILED/ })
    t.equal(s.op.counts.jwks, fetched + 1, 'no further fetch within the interval')
  })
  t.test('after the interval, an unknown kid may refetch again', async (t) => {
    advanceClock(t, 6)
    await refusesIdToken(t, s, { reason: /OAUTH_KEY_SELECTION_FAILED/ })
    t.equal(s.op.counts.jwks, fetched + 2)
  })
})
