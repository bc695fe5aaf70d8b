// A real OpenID provider (oidc-provider, through src/demo/oidc-provider.ts) on
// 127.0.0.1:0 for tests, and a browser stand-in that signs in through it with plain HTTP.
//
//   const idp = await startIdp({ clients: [{ client_id: 'gh', client_secret: 's', redirect_uris: [cb] }] })
//   const back = await idp.login(authorizationUrl, 'alice')   // -> cb?code=...&state=...&iss=...
//   idp.counts.token, idp.calls, idp.endpoints.token, ...

import { createHash, randomBytes } from 'node:crypto'
import { fetch, type Response } from 'undici'
import {
  startOidcProvider,
  type OidcClient,
  type OidcProviderOptions,
  type ProviderMiddleware,
  type RunningOidcProvider,
} from '../../src/demo/oidc-provider.js'
import { NAMESPACED_ROLES_CLAIM, type OidcUser } from '../../src/demo/oidc-users.js'
import type { Teardown } from './upstream.js'
import { errors } from 'oidc-provider'
import type { KoaContextWithOIDC } from 'oidc-provider'

export { NAMESPACED_ROLES_CLAIM, type OidcUser, type OidcClient }

/** Users every test IdP has unless `users` says otherwise. */
export const TEST_USERS: readonly OidcUser[] = Object.freeze([
  {
    id: 'alice',
    email: 'alice@example.com',
    name: 'Alice Admin',
    preferred_username: 'alice',
    groups: ['admins', 'Kasm Premium'],
    claims: { [NAMESPACED_ROLES_CLAIM]: ['admin'], org: { department: 'engineering', teams: ['platform', 'security'] } },
  },
  {
    id: 'bob',
    email: 'bob@example.com',
    name: 'Bob Developer',
    preferred_username: 'bob',
    groups: ['developers'],
    claims: { [NAMESPACED_ROLES_CLAIM]: ['developer'] },
  },
  { id: 'carol', email: 'carol@example.org', name: 'Carol Contractor', preferred_username: 'carol', groups: [] },
])

/** The client every test IdP has unless `clients` says otherwise. */
export const TEST_CLIENT = Object.freeze({
  client_id: 'gatehouse',
  client_secret: 'gatehouse-test-secret',
  redirect_uris: ['http://127.0.0.1/oauth2/callback'],
  post_logout_redirect_uris: ['http://127.0.0.1/.gatehouse/signed_out'],
})

export interface IdpOptions extends Partial<
  Omit<
    OidcProviderOptions,
    'clients' | 'users' | 'label' | 'title' | 'notice' | 'middleware' | 'host' | 'port' | 'publicHost' | 'cookiePrefix' | 'pkce' | 'configure'
  >
> {
  /** 'required' (default): code_challenge (S256) is mandatory. 'optional': used when sent.
   *  'unsupported': not advertised in discovery and an authorization request carrying
   *  code_challenge is refused, like an IdP that refuses PKCE. */
  pkce?: 'required' | 'optional' | 'unsupported'
  /** 'scope' (default): the ID token carries every claim the granted scopes release, as
   *  Auth0 does. 'minimal': only sub and protocol claims; the rest from userinfo only. */
  idTokenClaims?: 'scope' | 'minimal'
  /** Seconds; default 3600. */
  idTokenTtl?: number
  /** Seconds; default 1 day. */
  refreshTokenTtl?: number
  /** The userinfo endpoint; default true. */
  userinfo?: boolean
  /** OpenID Connect Back-Channel Logout to clients with a backchannel_logout_uri; default false. */
  backchannelLogout?: boolean
  /** RP-initiated logout (end_session_endpoint); default true. */
  logout?: boolean
  /** oidc-provider accepts client_secret_basic and client_secret_post alike, whichever a
   *  client registered; by default the registered token_endpoint_auth_method is enforced
   *  (as Authelia does), so a relying party that ignores its setting fails. */
  strictClientAuth?: boolean
  /** Default: [TEST_CLIENT]. token_endpoint_auth_method defaults to client_secret_basic. */
  clients?: OidcClient[]
  /** Default: a copy of TEST_USERS. The returned `users` is this same live list. */
  users?: OidcUser[]
  /** Access token lifetime in seconds; default 60 here, so refresh can be exercised. */
  accessTokenTtl?: number
}

/** oidc-provider's name for the endpoint a request hit ('interaction' for the login pages). */
export type IdpRoute =
  | 'discovery'
  | 'jwks'
  | 'authorization'
  | 'resume'
  | 'interaction'
  | 'token'
  | 'userinfo'
  | 'end_session'
  | 'end_session_confirm'
  | 'end_session_success'
  | (string & {})

export interface IdpCall {
  route: IdpRoute
  method: string
  /** Path as the provider saw it (after an issuerPath prefix). */
  path: string
  status: number
  /** token endpoint only. */
  grantType?: string
  /** token endpoint only: how the client authenticated. */
  clientAuth?: 'client_secret_basic' | 'client_secret_post' | 'client_assertion' | 'none'
  /** The OAuth error answered, if any. */
  error?: string
}

export interface IdpCounts {
  discovery: number
  jwks: number
  /** Authorization requests (not the resumes after login). */
  authorization: number
  token: number
  userinfo: number
  /** RP-initiated logout requests at end_session_endpoint (not the confirmations). */
  endSession: number
  endSessionConfirm: number
  /** Login-page requests (GET and POST). */
  interaction: number
}

export interface IdpEndpoints {
  authorization: string
  token: string
  /** Undefined with `userinfo: false`. */
  userinfo?: string
  jwks: string
  /** Undefined with `logout: false`. */
  endSession?: string
}

export interface TestIdp extends RunningOidcProvider {
  endpoints: IdpEndpoints
  /** Every request the provider answered, in order. */
  calls: IdpCall[]
  /** Hits per endpoint (live). */
  counts: IdpCounts
  resetCalls(): void
  /** Signs `userId` in, in a fresh browser: follows the authorization request, submits the
   *  login form, consent is automatic, and returns the URL the provider sent the browser
   *  back to (the client's redirect_uri with code, state and iss, or with error=...). */
  login(authorizationUrl: string, userId: string): Promise<string>
  /** A browser with its own cookie jar, for flows that span requests (SSO, logout). */
  browser(): IdpBrowser
}

export async function startIdp(options: IdpOptions = {}): Promise<TestIdp> {
  const calls: IdpCall[] = []
  const counts: IdpCounts = zeroCounts()
  const observe: ProviderMiddleware = async (ctx, next) => {
    await next()
    // ctx.oidc exists on oidc-provider's own routes; the login pages are ours, and an
    // authorization request refused for carrying PKCE (pkce: 'unsupported') never got there.
    const route: IdpRoute = ctx.oidc?.route ?? (ctx.path.startsWith('/interaction/') ? 'interaction' : ctx.path === '/auth' ? 'authorization' : 'unknown')
    const call: IdpCall = { route, method: ctx.method, path: ctx.path, status: ctx.status }
    const body = ctx.body as { error?: unknown } | undefined
    if (ctx.status >= 400 && body && typeof body === 'object' && typeof body.error === 'string') call.error = body.error
    if (route === 'token') {
      const form = (ctx.oidc?.body ?? {}) as Record<string, unknown>
      call.grantType = typeof form.grant_type === 'string' ? form.grant_type : undefined
      const authorization = ctx.get('authorization')
      call.clientAuth = /^basic /i.test(authorization)
        ? 'client_secret_basic'
        : form.client_secret !== undefined
          ? 'client_secret_post'
          : form.client_assertion !== undefined
            ? 'client_assertion'
            : 'none'
    }
    calls.push(call)
    const key = COUNTED[route]
    if (key) counts[key]++
  }

  const clients = options.clients ?? [structuredClone(TEST_CLIENT) as OidcClient]
  const {
    pkce = 'required',
    idTokenClaims,
    accessTokenTtl = 60,
    idTokenTtl,
    refreshTokenTtl,
    userinfo,
    logout,
    backchannelLogout,
    strictClientAuth = true,
    ...engine
  } = options
  const running = await startOidcProvider({
    ...engine,
    host: '127.0.0.1',
    port: 0,
    clients,
    users: options.users ?? TEST_USERS.map((u) => structuredClone(u)),
    label: 'TEST',
    title: 'Test identity provider',
    notice: 'The IdP Gatehouse tests sign in through. Pick a user.',
    cookiePrefix: '_test_idp',
    pkce: pkce === 'required' ? 'required' : 'optional',
    middleware: pkce === 'unsupported' ? [observe, refusePkce] : [observe],
    configure(configuration) {
      configuration.conformIdTokenClaims = idTokenClaims === 'minimal'
      configuration.ttl = { ...configuration.ttl, AccessToken: accessTokenTtl, IdToken: idTokenTtl ?? 3600, RefreshToken: refreshTokenTtl ?? 24 * 3600 }
      const features = configuration.features!
      features.userinfo = { enabled: userinfo ?? true }
      features.rpInitiatedLogout = { ...features.rpInitiatedLogout, enabled: logout ?? true }
      features.backchannelLogout = { enabled: backchannelLogout ?? false }
      // oidc-provider refuses to call loopback addresses (SSRF protection); every relying
      // party in these tests is on 127.0.0.1, so its own outgoing calls go unchecked.
      configuration.fetch = (url, init) => globalThis.fetch(url, { ...init, dispatcher: undefined } as RequestInit)
    },
  })
  if (strictClientAuth) enforceRegisteredClientAuth(running.provider)
  try {
    return withTestApi(running, calls, counts)
  } catch (err) {
    await running.close()
    throw err
  }
}

function withTestApi(running: RunningOidcProvider, calls: IdpCall[], counts: IdpCounts): TestIdp {
  const { provider } = running
  const urlFor = (route: string) => {
    try {
      return provider.urlFor(route)
    } catch {
      return undefined // switched off
    }
  }
  const endpoints: IdpEndpoints = {
    authorization: provider.urlFor('authorization'),
    token: provider.urlFor('token'),
    userinfo: urlFor('userinfo'),
    jwks: provider.urlFor('jwks'),
    endSession: urlFor('end_session'),
  }
  const origin = new URL(running.issuer).origin
  return {
    ...running,
    endpoints,
    calls,
    counts,
    resetCalls() {
      calls.length = 0
      Object.assign(counts, zeroCounts())
    },
    login: (authorizationUrl, userId) => new IdpBrowser(origin).login(authorizationUrl, userId),
    browser: () => new IdpBrowser(origin),
  }
}

/** pkce: 'unsupported': PKCE is not advertised, and a request that sends it anyway is
 *  refused, as some IdPs do. */
const refusePkce: ProviderMiddleware = async (ctx, next) => {
  if (ctx.path === '/auth' && (ctx.query.code_challenge !== undefined || ctx.query.code_challenge_method !== undefined)) {
    ctx.status = 400
    ctx.type = 'html'
    ctx.body = '<pre><b>error</b>: invalid_request</pre><pre><b>error_description</b>: PKCE (code_challenge) is not supported by this provider</pre>'
    return
  }
  await next()
  if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
    delete (ctx.body as Record<string, unknown>).code_challenge_methods_supported
  }
}

const CLIENT_AUTH_ROUTES = new Set([
  'token',
  'revocation',
  'introspection',
  'pushed_authorization_request',
  'backchannel_authentication',
  'device_authorization',
])

/** Refuses a secret-based client authentication other than the registered one. The check
 *  sits where oidc-provider has just identified the client (OIDCContext#entity('Client')),
 *  before it compares the secret: what it throws is answered as invalid_client. */
function enforceRegisteredClientAuth(provider: RunningOidcProvider['provider']): void {
  interface Ctx {
    route: string
    ctx: KoaContextWithOIDC
    params?: Record<string, unknown>
    entity(key: string, value: unknown): void
  }
  const proto = provider.OIDCContext.prototype as unknown as Ctx
  const entity = proto.entity
  if (typeof entity !== 'function') throw new Error('oidc-provider changed: OIDCContext#entity is missing')
  proto.entity = function (this: Ctx, key: string, value: unknown) {
    entity.call(this, key, value)
    if (key !== 'Client' || !CLIENT_AUTH_ROUTES.has(this.route)) return
    const registered = (value as { clientAuthMethod?: string }).clientAuthMethod
    if (registered !== 'client_secret_basic' && registered !== 'client_secret_post') return
    const used = /^basic /i.test(this.ctx.get('authorization'))
      ? 'client_secret_basic'
      : this.params?.client_secret !== undefined
        ? 'client_secret_post'
        : undefined
    if (used && used !== registered) {
      throw new errors.InvalidClientAuth(`the client authenticated with ${used} but is registered for ${registered}`)
    }
  }
}

/** `startIdp` for one test: closed when the test ends. */
export async function idp(t: Teardown, options: IdpOptions = {}): Promise<TestIdp> {
  const started = await startIdp(options)
  t.teardown(() => started.close())
  return started
}

const COUNTED: Record<string, keyof IdpCounts | undefined> = {
  discovery: 'discovery',
  jwks: 'jwks',
  authorization: 'authorization',
  token: 'token',
  userinfo: 'userinfo',
  end_session: 'endSession',
  end_session_confirm: 'endSessionConfirm',
  interaction: 'interaction',
}

function zeroCounts(): IdpCounts {
  return { discovery: 0, jwks: 0, authorization: 0, token: 0, userinfo: 0, endSession: 0, endSessionConfirm: 0, interaction: 0 }
}

/** A PKCE pair: `challenge` is the S256 of `verifier`. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

// ---------------------------------------------------------------------------------
// A browser stand-in: a cookie jar and a loop that follows redirects and submits the
// provider's forms. It talks only to the provider's origin and stops at the first
// redirect that leaves it (the redirect to the client).

interface StoredCookie {
  name: string
  value: string
  path: string
}

export interface Form {
  action: string
  method: string
  id?: string
  /** Hidden and other inputs with a name, in order. */
  fields: [string, string][]
}

export class IdpBrowser {
  readonly #origin: string
  readonly #jar = new Map<string, StoredCookie>()

  constructor(origin: string) {
    this.#origin = origin
  }

  /** Cookie names and values the provider has set and not cleared. */
  get cookies(): Record<string, string> {
    return Object.fromEntries([...this.#jar.values()].map((c) => [c.name, c.value]))
  }

  /** One request to the provider with the jar's cookies; redirects are not followed. */
  async request(url: string | URL, init: { method?: string; form?: Record<string, string> | [string, string][] } = {}): Promise<Response> {
    const target = new URL(url)
    if (target.origin !== this.#origin) throw new Error(`IdpBrowser talks to ${this.#origin} only, not ${target.origin}`)
    const headers: Record<string, string> = { accept: 'text/html' }
    const cookie = [...this.#jar.values()]
      .filter((c) => pathMatches(target.pathname, c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ')
    if (cookie) headers.cookie = cookie
    let body: string | undefined
    if (init.form) {
      body = new URLSearchParams(init.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const res = await fetch(target, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' })
    for (const line of res.headers.getSetCookie()) this.#store(line, target)
    return res
  }

  /** Follows `authorizationUrl`, signs `userId` in on the login page if the provider shows
   *  it (an existing session in this browser skips it), and returns the URL the provider
   *  redirects to outside itself: the client's redirect_uri with code, state and iss (or
   *  error). `userId` may be omitted when a session is expected. */
  login(authorizationUrl: string, userId?: string): Promise<string> {
    return this.#drive(authorizationUrl, (forms, url) => {
      const login = forms.find((f) => f.id === 'login')
      if (!login) return undefined
      if (userId === undefined) throw new Error(`the provider asks to sign in at ${url} but no user was given`)
      return { action: login.action, fields: [...login.fields, ['account', userId]] }
    })
  }

  /** Follows `authorizationUrl` and presses Cancel on the login page: the client gets
   *  error=access_denied. */
  cancel(authorizationUrl: string): Promise<string> {
    return this.#drive(authorizationUrl, (forms) => {
      const abort = forms.find((f) => f.id === 'abort')
      return abort && { action: abort.action, fields: abort.fields }
    })
  }

  /** RP-initiated logout: follows `endSessionUrl` (end_session_endpoint with id_token_hint,
   *  post_logout_redirect_uri, state...), confirms, and returns where the provider sends
   *  the browser: post_logout_redirect_uri (with state), or its own signed-out page. */
  logout(endSessionUrl: string): Promise<string> {
    return this.#drive(
      endSessionUrl,
      (forms) => {
        const form = forms.find((f) => f.id === 'op.logoutForm')
        if (!form) return undefined
        const fields = form.fields.filter(([name]) => name !== 'logout')
        return { action: form.action, fields: [...fields, ['logout', 'yes']] }
      },
      true,
    )
  }

  /** The redirect/form loop. `act` chooses a form to submit on a page; a page it has no
   *  answer for ends the loop: with its URL when `pageIsEnd`, with an error otherwise. */
  async #drive(
    start: string,
    act: (forms: Form[], url: string) => { action: string; fields: [string, string][] } | undefined,
    pageIsEnd = false,
  ): Promise<string> {
    let url = new URL(start)
    let res = await this.request(url)
    for (let step = 0; step < 20; step++) {
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location')
        await res.arrayBuffer()
        if (!location) throw new Error(`redirect without Location from ${url}`)
        url = new URL(location, url)
        if (url.origin !== this.#origin) return url.href
        res = await this.request(url)
        continue
      }
      const text = await res.text()
      if (res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/html')) {
        const next = act(parseForms(text, url), url.href)
        if (next) {
          const action = new URL(next.action, url)
          if (action.origin !== this.#origin) throw new Error(`the provider posts a form to ${action.origin} (response_mode=form_post is not supported here)`)
          url = action
          res = await this.request(action, { method: 'POST', form: next.fields })
          continue
        }
        if (pageIsEnd) return url.href
      }
      throw new Error(`the provider answered ${res.status} at ${url.href}: ${summarize(text)}`)
    }
    throw new Error(`more than 20 steps from ${start}`)
  }

  #store(line: string, requestUrl: URL): void {
    const [pair, ...attributes] = line.split(';')
    const eq = pair.indexOf('=')
    if (eq <= 0) return
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    let path = requestUrl.pathname.replace(/\/[^/]*$/, '') || '/'
    let expired = false
    for (const attribute of attributes) {
      const [key, ...rest] = attribute.split('=')
      const v = rest.join('=').trim()
      switch (key.trim().toLowerCase()) {
        case 'path':
          path = v || '/'
          break
        case 'max-age':
          if (Number(v) <= 0) expired = true
          break
        case 'expires':
          if (Date.parse(v) <= Date.now()) expired = true
          break
      }
    }
    const key = `${name}\0${path}`
    if (expired) this.#jar.delete(key)
    else this.#jar.set(key, { name, value, path })
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, entity: string) => {
    if (entity[0] === '#') return String.fromCodePoint(entity[1].toLowerCase() === 'x' ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)))
    return ENTITIES[entity.toLowerCase()] ?? whole
  })
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of tag.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3])
  return out
}

/** The forms of a page: action (resolved against `base`), method, id, and named inputs. */
export function parseForms(html: string, base: URL | string): Form[] {
  const forms: Form[] = []
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1])
    const fields: [string, string][] = []
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributes(input[1])
      if (a.name !== undefined) fields.push([a.name, a.value ?? ''])
    }
    forms.push({ action: new URL(attrs.action ?? '', base).href, method: (attrs.method ?? 'get').toUpperCase(), id: attrs.id, fields })
  }
  return forms
}

function summarize(text: string): string {
  const plain = text
    .replace(/<style[\s\S]*?<\/style>/gi, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return decodeEntities(plain).slice(0, 400)
}
