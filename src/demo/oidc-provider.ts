// The OpenID provider engine the demo's development IdP runs on (oidc-provider, in
// process): a login page that lists users as buttons, no passwords, consent granted
// automatically. The tests' IdP (test/helpers/idp.ts) runs on it too and adds its own
// knobs through `configure` and `middleware`.

import http, { type Server } from 'node:http'
import { generateKeyPair as generateKeyPairCallback, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import type { AddressInfo, Socket } from 'node:net'
import type { Adapter, AdapterPayload, ClientMetadata, Configuration, Grant, Interaction, KoaContextWithOIDC, Provider } from 'oidc-provider'
import { describeUser, findAccountIn, scopeClaims, type OidcUser } from './oidc-users.js'
import { readForm } from '../http/form.js'
import { escapeHtml } from '../http/html.js'

export type { OidcUser } from './oidc-users.js'

/** A client registration, in OAuth/OIDC metadata names (client_id, client_secret,
 *  redirect_uris, post_logout_redirect_uris, token_endpoint_auth_method, ...). */
export type OidcClient = ClientMetadata

/** A koa middleware run around every request the provider answers (interactions
 *  included); after `await next()`, `ctx.oidc?.route` names the endpoint. */
export type ProviderMiddleware = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>

export interface OidcProviderOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string
  /** Default 0 (any free port). */
  port?: number
  /** Host name in the issuer URL; default `host`, or 127.0.0.1 when `host` is a wildcard. */
  publicHost?: string
  /** Path of the issuer: '' (default) gives http://host:port, '/' the Auth0 style
   *  http://host:port/ (trailing slash), '/oidc' mounts everything under /oidc. */
  issuerPath?: string
  clients: OidcClient[]
  /** The live list of users: changes show in later tokens and userinfo answers. */
  users: OidcUser[]
  /** Scope -> claims released, over DEFAULT_SCOPE_CLAIMS (a scope given here replaces its entry). */
  scopes?: Record<string, readonly string[]>
  /** Word shown on every page of the provider ("DEMO", "TEST"). */
  label: string
  /** Page title / heading of the login page. */
  title: string
  /** Text under the heading of the login page. */
  notice: string
  /** Prefix of the provider's cookie names (they share the host with Gatehouse, and
   *  cookies ignore ports); default "_oidc". */
  cookiePrefix?: string
  /** 'required' (default): code_challenge (S256) is mandatory. 'optional': used when sent. */
  pkce?: 'required' | 'optional'
  /** Koa middlewares installed outermost, e.g. to observe calls. */
  middleware?: ProviderMiddleware[]
  /** Adjusts oidc-provider's configuration before the provider is built (token
   *  lifetimes, features): how callers shape the provider beyond these options. */
  configure?: (configuration: Configuration) => void
}

export interface RunningOidcProvider {
  /** The issuer URL, exactly as in discovery and the `iss` of tokens. */
  issuer: string
  /** `${issuer}/.well-known/openid-configuration`, without a doubled slash. */
  discoveryUrl: string
  port: number
  server: Server
  provider: Provider
  users: OidcUser[]
  clients: OidcClient[]
  /** The private signing keys (RS256 and ES256), as JWKs. */
  signingKeys: JsonWebKeyWithKid[]
  /** Adds (or replaces) a client at run time, e.g. once the relying party's port is
   *  known. A client_id given in `clients` cannot be replaced. */
  registerClient(metadata: OidcClient): Promise<void>
  close(): Promise<void>
}

export type JsonWebKeyWithKid = JsonWebKey & { kid: string; alg: string; use: 'sig' }

/** Imports oidc-provider on first use only (nothing loads it unless an IdP is started).
 *  It prints "Unsupported runtime" on Node 20, where it runs and is tested: that one
 *  line is dropped. */
let providerModule: Promise<typeof import('oidc-provider')> | undefined
function loadProvider(): Promise<typeof import('oidc-provider')> {
  if (!providerModule) {
    const warn = console.warn
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return
      warn.apply(console, args)
    }
    providerModule = import('oidc-provider').finally(() => {
      console.warn = warn
    })
  }
  return providerModule
}

const generateKeyPair = promisify(generateKeyPairCallback)

/** Fresh signing keys: RSA 2048 for RS256 (listed first, the default) and P-256 for ES256.
 *  The RSA key takes about half a second, off the event loop. */
export async function generateSigningKeys(): Promise<JsonWebKeyWithKid[]> {
  const stamp = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
  const [rsaPair, ecPair] = await Promise.all([generateKeyPair('rsa', { modulusLength: 2048 }), generateKeyPair('ec', { namedCurve: 'P-256' })])
  const rsa = rsaPair.privateKey.export({ format: 'jwk' })
  const ec = ecPair.privateKey.export({ format: 'jwk' })
  return [
    { ...rsa, kid: `rs256-${stamp}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `es256-${stamp}`, alg: 'ES256', use: 'sig' },
  ]
}

/** An in-memory store for oidc-provider's models, one per provider (oidc-provider's own
 *  is shared across providers in a process and warns on every start). */
function memoryAdapter(): (model: string) => Adapter {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number }>()
  const byGrant = new Map<string, Set<string>>()
  const sessionsByUid = new Map<string, string>()
  const byUserCode = new Map<string, string>()
  let writes = 0
  const live = (key: string): AdapterPayload | undefined => {
    const entry = store.get(key)
    if (entry && entry.expiresAt <= Date.now()) {
      store.delete(key)
      return undefined
    }
    return entry?.payload
  }
  const sweep = () => {
    const now = Date.now()
    for (const [key, entry] of store) if (entry.expiresAt <= now) store.delete(key)
  }
  return (model) => {
    const keyOf = (id: string) => `${model}:${id}`
    return {
      async upsert(id, payload, expiresIn) {
        if (++writes % 1000 === 0) sweep()
        const key = keyOf(id)
        store.set(key, { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity })
        if (model === 'Session' && payload.uid) sessionsByUid.set(payload.uid, id)
        if (payload.userCode) byUserCode.set(payload.userCode, id)
        if (payload.grantId) {
          const members = byGrant.get(payload.grantId) ?? new Set<string>()
          members.add(key)
          byGrant.set(payload.grantId, members)
        }
      },
      async find(id) {
        return live(keyOf(id))
      },
      async findByUid(uid) {
        const id = sessionsByUid.get(uid)
        return id === undefined ? undefined : live(keyOf(id))
      },
      async findByUserCode(userCode) {
        const id = byUserCode.get(userCode)
        return id === undefined ? undefined : live(keyOf(id))
      },
      async consume(id) {
        const payload = live(keyOf(id))
        if (payload) payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy(id) {
        store.delete(keyOf(id))
      },
      async revokeByGrantId(grantId) {
        for (const key of byGrant.get(grantId) ?? []) store.delete(key)
        byGrant.delete(grantId)
      },
    }
  }
}

function page(label: string, title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(`${label}: ${title}`)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:36rem;padding:0 1rem}
.label{display:inline-block;background:#b00020;color:#fff;font-weight:700;padding:.15rem .5rem;border-radius:3px;letter-spacing:.05em}
button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.6rem .8rem;font:inherit;border:1px solid #888;border-radius:4px;background:#f6f6f6;cursor:pointer}
button:hover{background:#e8e8e8}button small{display:block;color:#555}.cancel{text-align:center;background:#fff}
pre{white-space:pre-wrap}</style></head>
<body><p><span class="label">${escapeHtml(label)}</span></p><h1>${escapeHtml(title)}</h1>${body}</body></html>`
}

function loginPage(options: OidcProviderOptions, interaction: Interaction, prefix: string, error?: string): string {
  const action = `${prefix}/interaction/${encodeURIComponent(interaction.uid)}`
  const clientId = String(interaction.params.client_id ?? '')
  const buttons = options.users
    .map(
      (u) =>
        `<button type="submit" name="account" value="${escapeHtml(u.id)}" data-user="${escapeHtml(u.id)}">` +
        `<b>${escapeHtml(u.preferred_username ?? u.id)}</b><small>${escapeHtml(describeUser(u))}</small></button>`,
    )
    .join('\n')
  return page(
    options.label,
    options.title,
    `<p>${escapeHtml(options.notice)}</p>
${error ? `<p role="alert"><b>${escapeHtml(error)}</b></p>` : ''}
<p>Signing in to <code>${escapeHtml(clientId)}</code> as:</p>
<form method="post" action="${escapeHtml(action)}/login" id="login">
${buttons || '<p>(no users)</p>'}
</form>
<form method="post" action="${escapeHtml(action)}/abort" id="abort"><button type="submit" class="cancel">Cancel</button></form>`,
  )
}

/** Adds what the request asks for to a grant: consent is automatic here. */
async function grantRequested(provider: Provider, interaction: Interaction): Promise<string> {
  const details = interaction.prompt.details as {
    missingOIDCScope?: string[]
    missingOIDCClaims?: string[]
    missingResourceScopes?: Record<string, string[]>
  }
  const found = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined
  const grant: Grant = found ?? new provider.Grant({ accountId: interaction.session?.accountId, clientId: String(interaction.params.client_id) })
  if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope)
  if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims)
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes)
  return grant.save()
}

/** `loadExistingGrant` that grants whatever a signed-in user's client asks for, so no
 *  consent prompt is shown (unless the request says prompt=consent). */
async function loadAutoGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const { oidc } = ctx
  const accountId = oidc.account?.accountId
  const client = oidc.client
  if (!accountId || !client) return undefined
  const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(client.clientId)
  const found = grantId ? await oidc.provider.Grant.find(grantId) : undefined
  const grant = found ?? new oidc.provider.Grant({ accountId, clientId: client.clientId })
  grant.addOIDCScope(oidc.requestParamOIDCScopes)
  if (oidc.requestParamClaims.size) grant.addOIDCClaims(oidc.requestParamClaims)
  await grant.save()
  return grant
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === ''
}

/** Starts an OpenID provider on options.host:options.port. */
export async function startOidcProvider(options: OidcProviderOptions): Promise<RunningOidcProvider> {
  const { default: ProviderClass, errors } = await loadProvider()
  const host = options.host ?? '127.0.0.1'
  const issuerPath = options.issuerPath ?? ''
  if (issuerPath && !issuerPath.startsWith('/')) throw new TypeError(`issuerPath must start with "/": ${issuerPath}`)
  const prefix = issuerPath.replace(/\/+$/, '')
  const pkce = options.pkce ?? 'required'
  const cookiePrefix = options.cookiePrefix ?? '_oidc'
  const signingKeys = await generateSigningKeys()

  const server = http.createServer()
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const publicHost = options.publicHost ?? (isWildcard(host) ? '127.0.0.1' : host)
  const origin = `http://${publicHost.includes(':') && !publicHost.startsWith('[') ? `[${publicHost}]` : publicHost}:${port}`
  const issuer = origin + issuerPath

  const adapter = memoryAdapter()
  const configuration: Configuration = {
    adapter,
    clients: options.clients,
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    jwks: { keys: signingKeys as unknown as NonNullable<Configuration['jwks']>['keys'] },
    findAccount: findAccountIn(options.users),
    claims: scopeClaims(options.users, options.scopes),
    scopes: ['openid', 'offline_access'],
    conformIdTokenClaims: false,
    loadExistingGrant: loadAutoGrant,
    pkce: { required: () => pkce === 'required' },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html'
          ctx.body = page(
            options.label,
            'Sign out',
            `<p>Sign out of ${escapeHtml(issuer)}?</p>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="cancel">No, stay signed in</button>`,
          )
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html'
          ctx.body = page(options.label, 'Signed out', '<p>You are signed out of the identity provider.</p>')
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: { session: `${cookiePrefix}_session`, interaction: `${cookiePrefix}_interaction`, resume: `${cookiePrefix}_resume` },
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
    clientBasedCORS: () => false,
    renderError: async (ctx, out) => {
      ctx.type = 'html'
      const rows = Object.entries(out)
        .map(([k, v]) => `<pre><b>${escapeHtml(k)}</b>: ${escapeHtml(String(v))}</pre>`)
        .join('')
      ctx.body = page(options.label, 'Sign-in error', rows)
    },
  }

  options.configure?.(configuration)
  const provider = new ProviderClass(issuer, configuration)

  for (const middleware of options.middleware ?? []) provider.use(middleware)

  // oidc-provider follows OIDC Core strictly: offline_access (and so a refresh token) is
  // dropped unless the request says prompt=consent. Most IdPs (Auth0, Keycloak) do not
  // ask for that, so a request with offline_access and no prompt is treated as
  // prompt=consent (consent is automatic here anyway).
  {
    provider.use(async (ctx, next) => {
      if (
        ctx.path === '/auth' &&
        ctx.query.prompt === undefined &&
        typeof ctx.query.scope === 'string' &&
        ctx.query.scope.split(' ').includes('offline_access')
      ) {
        ctx.query = { ...ctx.query, prompt: 'consent' }
        // oidc-provider finds its mount path by locating req.url inside req.originalUrl.
        if (prefix) Object.assign(ctx.req, { originalUrl: prefix + ctx.req.url })
      }
      await next()
    })
  }

  // Interactions: the login page (users as buttons), automatic consent, cancel.
  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(ctx.path)
    if (!match) return next()
    ctx.set('cache-control', 'no-store')
    const finish = async (result: Parameters<Provider['interactionResult']>[2], merge = true) => {
      const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge })
      ctx.status = 303
      ctx.redirect(to)
    }
    try {
      const interaction = await provider.interactionDetails(ctx.req, ctx.res)
      if (interaction.uid !== decodeURIComponent(match[1])) throw new errors.SessionNotFound('interaction session id mismatch')
      const action = match[2]
      if (ctx.method === 'GET' && !action) {
        if (interaction.prompt.name === 'login') {
          ctx.type = 'html'
          ctx.body = loginPage(options, interaction, prefix)
          return
        }
        if (interaction.prompt.name === 'consent') return await finish({ consent: { grantId: await grantRequested(provider, interaction) } })
        throw new errors.InvalidRequest(`unsupported prompt: ${interaction.prompt.name}`)
      }
      if (ctx.method === 'POST' && action === 'login') {
        const form = await readForm(ctx.req, 16 * 1024)
        if (form === undefined) throw new errors.InvalidRequest('form too large')
        const accountId = form.get('account') ?? ''
        if (interaction.prompt.name !== 'login') throw new errors.InvalidRequest('this interaction is not a login')
        if (!options.users.some((u) => u.id === accountId)) {
          ctx.status = 400
          ctx.type = 'html'
          ctx.body = loginPage(options, interaction, prefix, `no such user: ${accountId}`)
          return
        }
        return await finish({ login: { accountId } }, false)
      }
      if (ctx.method === 'POST' && action === 'abort') {
        return await finish({ error: 'access_denied', error_description: 'the user cancelled the sign-in' }, false)
      }
      ctx.status = 405
      ctx.body = 'method not allowed'
    } catch (err) {
      const e = err as { statusCode?: number; message?: string; error_description?: string }
      ctx.status = e.statusCode ?? 500
      ctx.type = 'html'
      ctx.body = page(
        options.label,
        'Sign-in error',
        `<pre>${escapeHtml(e.error_description ?? e.message ?? String(err))}</pre><p>Start signing in again from the application.</p>`,
      )
    }
  })

  const callback = provider.callback()
  server.on('request', (req, res) => {
    if (prefix) {
      const url = req.url ?? '/'
      if (!(url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`))) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
        return
      }
      Object.assign(req, { originalUrl: url })
      const rest = url.slice(prefix.length)
      req.url = rest.startsWith('/') ? rest : `/${rest}`
    }
    void callback(req, res)
  })

  return {
    issuer,
    discoveryUrl: `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    port,
    server,
    provider,
    users: options.users,
    clients: options.clients,
    signingKeys,
    async registerClient(metadata) {
      if (options.clients.some((c) => c.client_id === metadata.client_id)) {
        throw new TypeError(`client ${metadata.client_id} is configured statically and cannot be replaced`)
      }
      await provider.Client.validate(metadata)
      // oidc-provider looks clients it was not constructed with up in the Client model.
      await adapter('Client').upsert(metadata.client_id, { ...metadata })
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
