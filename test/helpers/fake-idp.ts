// A small, hand-written OpenID provider on 127.0.0.1:0 that speaks the real protocol
// (discovery, JWKS, an authorization endpoint that signs the user in at once and
// redirects straight back with a code, a token endpoint, userinfo) and can be told to
// misbehave in one way at a time: a bad signature, another alg, wrong claims, a wrong
// `iss` response parameter, another subject at userinfo, a rotated or unknown key.
//
//   const op = await fakeIdp(t)
//   op.misbehave = { idToken: (c) => ({ ...c, nonce: 'other' }) }
//   const back = await op.authorize(authorizationUrl)   // -> redirect_uri?code=...&state=...&iss=...
//   op.tokenRequests, op.counts, op.rotateKey()
//
// Its token endpoint checks what a correct provider checks (client authentication,
// single-use codes, redirect_uri, PKCE), so the misbehaviour is the only thing wrong.

import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose'
import { request } from './client.js'
import type { Teardown } from './upstream.js'

/** How the ID token is signed (default 'valid': RS256 with the published current key). */
export type Signing =
  /** RS256 with the current key, whose kid is in the JWKS. */
  | 'valid'
  /** RS256 under the current key's kid, but with another (an attacker's) private key. */
  | 'wrong-key'
  /** Signed correctly, then the payload is swapped for another (sub: mallory): the
   *  signature no longer covers what the token says. */
  | 'tampered'
  /** alg none: no signature at all. */
  | 'none'
  /** HS256 with the client secret as the key (the IdP advertises RS256 only, unless its
   *  discovery document is told otherwise). */
  | 'hs256-client-secret'
  /** RS256 with a key whose kid the JWKS does not hold. */
  | 'unknown-kid'
  /** HS256 with the client secret, then the payload swapped (sub: mallory). */
  | 'hs256-tampered'

export interface AuthorizationRequest {
  clientId: string
  redirectUri: string
  state?: string
  nonce?: string
  scope?: string
  codeChallenge?: string
  codeChallengeMethod?: string
}

/** One way (or a few) to misbehave; replaced per test, read on every request. */
export interface Misbehavior {
  signing?: Signing
  /** Changes the ID token's claims, given the correct ones; returns what is signed. */
  idToken?: (claims: JWTPayload, request: AuthorizationRequest) => JWTPayload
  /** Changes the ID token's protected header (after alg and kid are set). */
  idTokenHeader?: (header: Record<string, unknown>) => Record<string, unknown>
  /** Changes the authorization response (code, state, iss) before the redirect. */
  authorizationResponse?: (params: URLSearchParams, request: AuthorizationRequest) => void
  /** Changes the userinfo answer, given the correct one. */
  userinfo?: (claims: Record<string, unknown>) => Record<string, unknown>
}

export interface TokenRequest {
  /** How the client authenticated, as seen on the wire. */
  clientAuth: 'client_secret_basic' | 'client_secret_post' | 'none'
  /** The Authorization header, if any. */
  authorization?: string
  /** The form body. */
  body: Record<string, string>
  status: number
  /** The OAuth error answered, if any. */
  error?: string
}

export interface FakeIdpCounts {
  discovery: number
  jwks: number
  authorization: number
  token: number
  userinfo: number
}

export interface FakeIdpOptions {
  clientId?: string
  clientSecret?: string
  /** Who signs in; default 'alice'. */
  subject?: string
  /** More ID token and userinfo claims; default an email and a name for the subject. */
  claims?: Record<string, unknown>
  /** Fields added to (or replacing) those of the discovery document. */
  discovery?: Record<string, unknown>
  /** 'form' (default): Basic credentials are form-urldecoded, as RFC 6749 says. 'raw':
   *  they are compared as sent, as some widely deployed IdPs do. */
  basicDecoding?: 'form' | 'raw'
}

export interface FakeIdp {
  /** http://127.0.0.1:PORT (no trailing slash), as in the discovery document. */
  issuer: string
  port: number
  clientId: string
  clientSecret: string
  subject: string
  /** What to do wrong from now on; {} (the default) is a well-behaved provider. */
  misbehave: Misbehavior
  /** Authorization requests received, in order. */
  authorizationRequests: AuthorizationRequest[]
  /** Token requests received, in order. */
  tokenRequests: TokenRequest[]
  counts: FakeIdpCounts
  /** The kid the ID tokens are signed with now. */
  readonly currentKid: string
  /** The kids the JWKS publishes now. */
  publishedKids(): string[]
  /** Starts signing with a new RSA key and kid, published in the JWKS next to the old one
   *  (or instead of it, with retireOld). Returns the new kid. */
  rotateKey(options?: { retireOld?: boolean }): Promise<string>
  /** Plays the browser at the authorization endpoint: follows `authorizationUrl` and
   *  returns the URL the provider redirects back to (redirect_uri with code, state, iss). */
  authorize(authorizationUrl: string): Promise<URL>
  close(): Promise<void>
}

interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

interface IssuedCode {
  request: AuthorizationRequest
  used: boolean
}

const random = (bytes = 24) => randomBytes(bytes).toString('base64url')
const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowSeconds = () => Math.floor(Date.now() / 1000)

/** RSA key pairs, made on first use and shared by every fake IdP in this process (making
 *  one takes about a second on a busy machine). Within one IdP the roles (current, an
 *  attacker's, unpublished, each rotation) always get different pairs. */
const keyPairs: Promise<{ privateKey: CryptoKey; publicJwk: JWK }>[] = []
function keyPair(index: number): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  keyPairs[index] ??= generateKeyPair('RS256', { extractable: true }).then(async ({ privateKey, publicKey }) => ({
    privateKey,
    publicJwk: await exportJWK(publicKey),
  }))
  return keyPairs[index]
}

async function newKey(index: number, kid = random(8)): Promise<SigningKey> {
  const { privateKey, publicJwk } = await keyPair(index)
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'RS256', use: 'sig' } }
}

/** RFC 6749 2.3.1: the client id and secret are form-urlencoded before Basic encoding. */
function decodeBasic(header: string, decoding: 'form' | 'raw'): { id: string; secret: string } | undefined {
  const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (!m) return undefined
  const text = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = text.indexOf(':')
  if (colon === -1) return undefined
  const decode = (s: string) => (decoding === 'raw' ? s : decodeURIComponent(s.replace(/\+/g, ' ')))
  try {
    return { id: decode(text.slice(0, colon)), secret: decode(text.slice(colon + 1)) }
  } catch {
    return undefined
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
  res.end(JSON.stringify(body))
}

export async function startFakeIdp(options: FakeIdpOptions = {}): Promise<FakeIdp> {
  const clientId = options.clientId ?? 'gatehouse-fake'
  const clientSecret = options.clientSecret ?? 'fake-idp-client-secret-0123456789abcdef'
  const subject = options.subject ?? 'alice'
  const profile = options.claims ?? { email: `${subject}@example.com`, email_verified: true, name: 'Alice Example' }

  // Key pairs 0 and 1 are this IdP's first key and an attacker's; 2 is never published;
  // rotations take 3, 4, ...
  let current = await newKey(0)
  let published: SigningKey[] = [current]
  let rotations = 0
  const attacker = () => newKey(1, current.kid) // the current (published) kid, another key
  const unpublished = () => newKey(2, 'not-in-the-jwks')

  const codes = new Map<string, IssuedCode>()
  const accessTokens = new Map<string, string>()
  const authorizationRequests: AuthorizationRequest[] = []
  const tokenRequests: TokenRequest[] = []
  const counts: FakeIdpCounts = { discovery: 0, jwks: 0, authorization: 0, token: 0, userinfo: 0 }
  let issuer = ''

  const state = {
    misbehave: {} as Misbehavior,
  }

  async function signIdToken(claims: JWTPayload): Promise<string> {
    const signing = state.misbehave.signing ?? 'valid'
    const headerFor = (alg: string, kid?: string) => {
      const header: Record<string, unknown> = { alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) }
      return state.misbehave.idTokenHeader ? state.misbehave.idTokenHeader(header) : header
    }
    const rs256 = (key: SigningKey, payload: JWTPayload) =>
      new SignJWT(payload).setProtectedHeader(headerFor('RS256', key.kid) as { alg: string }).sign(key.privateKey)
    switch (signing) {
      case 'valid':
        return rs256(current, claims)
      case 'wrong-key':
        return rs256(await attacker(), claims)
      case 'unknown-kid':
        return rs256(await unpublished(), claims)
      case 'tampered': {
        const [header, , signature] = (await rs256(current, claims)).split('.')
        return `${header}.${b64json({ ...claims, sub: 'mallory' })}.${signature}`
      }
      case 'none':
        return `${b64json(headerFor('none'))}.${b64json(claims)}.`
      case 'hs256-client-secret':
        return new SignJWT(claims).setProtectedHeader(headerFor('HS256') as { alg: string }).sign(new TextEncoder().encode(clientSecret))
      case 'hs256-tampered': {
        const signed = await new SignJWT(claims).setProtectedHeader(headerFor('HS256') as { alg: string }).sign(new TextEncoder().encode(clientSecret))
        const [header, , signature] = signed.split('.')
        return `${header}.${b64json({ ...claims, sub: 'mallory' })}.${signature}`
      }
    }
  }

  function discovery(): Record<string, unknown> {
    return {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      userinfo_endpoint: `${issuer}/userinfo`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['openid', 'profile', 'email'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'email', 'email_verified', 'name'],
      authorization_response_iss_parameter_supported: true,
      ...options.discovery,
    }
  }

  function authorize(url: URL, res: http.ServerResponse): void {
    counts.authorization++
    const q = url.searchParams
    const redirectUri = q.get('redirect_uri')
    if (q.get('client_id') !== clientId || !redirectUri)
      return json(res, 400, { error: 'invalid_request', error_description: 'unknown client or no redirect_uri' })
    const request: AuthorizationRequest = {
      clientId,
      redirectUri,
      state: q.get('state') ?? undefined,
      nonce: q.get('nonce') ?? undefined,
      scope: q.get('scope') ?? undefined,
      codeChallenge: q.get('code_challenge') ?? undefined,
      codeChallengeMethod: q.get('code_challenge_method') ?? undefined,
    }
    authorizationRequests.push(request)
    const back = new URL(redirectUri)
    if (q.get('response_type') !== 'code' || !request.scope?.split(' ').includes('openid')) {
      back.searchParams.set('error', 'invalid_request')
    } else {
      const code = random()
      codes.set(code, { request, used: false })
      back.searchParams.set('code', code)
    }
    if (request.state !== undefined) back.searchParams.set('state', request.state)
    back.searchParams.set('iss', issuer)
    state.misbehave.authorizationResponse?.(back.searchParams, request)
    res.writeHead(302, { location: back.href, 'cache-control': 'no-store' })
    res.end()
  }

  async function token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    counts.token++
    const body = Object.fromEntries(new URLSearchParams(await readBody(req)))
    const authorization = req.headers.authorization
    const basic = authorization ? decodeBasic(authorization, options.basicDecoding ?? 'form') : undefined
    const record: TokenRequest = {
      clientAuth: authorization && /^basic /i.test(authorization) ? 'client_secret_basic' : body.client_secret !== undefined ? 'client_secret_post' : 'none',
      ...(authorization === undefined ? {} : { authorization }),
      body,
      status: 200,
    }
    tokenRequests.push(record)
    const fail = (status: number, error: string, description: string) => {
      record.status = status
      record.error = error
      json(res, status, { error, error_description: description }, status === 401 ? { 'www-authenticate': 'Basic realm="fake-idp"' } : {})
    }
    if (req.method !== 'POST') return fail(405, 'invalid_request', 'POST only')
    // Exactly one client authentication method, and the right credentials.
    if (authorization !== undefined && body.client_secret !== undefined) return fail(400, 'invalid_request', 'more than one client authentication method')
    const client = authorization !== undefined ? basic : body.client_secret !== undefined ? { id: body.client_id, secret: body.client_secret } : undefined
    if (!client || client.id !== clientId || client.secret !== clientSecret) return fail(401, 'invalid_client', 'client authentication failed')
    if (body.client_id !== undefined && body.client_id !== clientId) return fail(400, 'invalid_request', 'client_id does not match the authenticated client')
    if (body.grant_type !== 'authorization_code') return fail(400, 'unsupported_grant_type', 'authorization_code only')
    const issued = codes.get(body.code ?? '')
    // Codes are single use: a second redemption is refused.
    if (!issued || issued.used) return fail(400, 'invalid_grant', 'the code is unknown or was already used')
    issued.used = true
    const { request } = issued
    if (body.redirect_uri !== request.redirectUri) return fail(400, 'invalid_grant', 'redirect_uri does not match the authorization request')
    if (request.codeChallenge !== undefined) {
      const verifier = body.code_verifier
      if (!verifier || request.codeChallengeMethod !== 'S256' || createHash('sha256').update(verifier).digest('base64url') !== request.codeChallenge) {
        return fail(400, 'invalid_grant', 'PKCE verification failed')
      }
    }
    const now = nowSeconds()
    const correct: JWTPayload = {
      iss: issuer,
      sub: subject,
      aud: clientId,
      exp: now + 300,
      iat: now,
      auth_time: now,
      ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
      ...profile,
    }
    const claims = state.misbehave.idToken ? state.misbehave.idToken(structuredClone(correct), request) : correct
    const accessToken = random()
    accessTokens.set(accessToken, subject)
    json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope: request.scope, id_token: await signIdToken(claims) })
  }

  function userinfo(req: http.IncomingMessage, res: http.ServerResponse): void {
    counts.userinfo++
    const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    const sub = m ? accessTokens.get(m[1]) : undefined
    if (sub === undefined) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' })
      res.end()
      return
    }
    const correct: Record<string, unknown> = { sub, ...profile }
    json(res, 200, state.misbehave.userinfo ? state.misbehave.userinfo(structuredClone(correct)) : correct)
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer)
    const handle = async () => {
      switch (url.pathname) {
        case '/.well-known/openid-configuration':
          counts.discovery++
          return json(res, 200, discovery(), { 'cache-control': 'max-age=0' })
        case '/jwks':
          counts.jwks++
          return json(res, 200, { keys: published.map((k) => k.publicJwk) }, { 'content-type': 'application/jwk-set+json' })
        case '/authorize':
          return authorize(url, res)
        case '/token':
          return token(req, res)
        case '/userinfo':
          return userinfo(req, res)
        default:
          return json(res, 404, { error: 'not_found' })
      }
    }
    handle().catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: err.message })
      else res.destroy(err)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const port = (server.address() as AddressInfo).port
  issuer = `http://127.0.0.1:${port}`

  return {
    issuer,
    port,
    clientId,
    clientSecret,
    subject,
    get misbehave() {
      return state.misbehave
    },
    set misbehave(value: Misbehavior) {
      state.misbehave = value
    },
    authorizationRequests,
    tokenRequests,
    counts,
    get currentKid() {
      return current.kid
    },
    publishedKids: () => published.map((k) => k.kid),
    async rotateKey({ retireOld = false } = {}) {
      const next = await newKey(3 + rotations++)
      published = retireOld ? [next] : [next, ...published]
      current = next
      return next.kid
    },
    async authorize(authorizationUrl: string) {
      const url = new URL(authorizationUrl)
      if (url.origin !== issuer) throw new Error(`${authorizationUrl} is not this provider's (${issuer})`)
      const reply = await request(port, { path: url.pathname + url.search, headers: { host: url.host, accept: 'text/html' } })
      const location = reply.headers.location
      if (reply.status !== 302 || !location) throw new Error(`the authorization endpoint answered ${reply.status}: ${reply.text}`)
      return new URL(location)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** `startFakeIdp` for one test: closed when the test ends. */
export async function fakeIdp(t: Teardown, options: FakeIdpOptions = {}): Promise<FakeIdp> {
  const started = await startFakeIdp(options)
  t.teardown(() => started.close())
  return started
}
