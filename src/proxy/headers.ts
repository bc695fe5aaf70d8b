// What the upstream receives and what the client gets back, header by header.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Route } from '../routes/route.js'
import { findClaim } from '../policy/index.js'
import type { TemplatePart } from '../routes/route.js'
import type { IdentitySettings } from '../config/compile.js'
import { encodeGroups, encodeHeaderValue, writeIdentityHeaders } from '../identity/headers.js'
import { isOwnCookie } from '../session/cookies.js'
import type { SessionData } from '../session/store.js'

/** Hop-by-hop headers (RFC 9110 7.6.1) describe one connection, not the message; they
 *  are never forwarded. `expect` is handled by Node itself (100-continue). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'expect',
])

/** Headers that claim to describe the original client or URL. From an untrusted peer they
 *  are lies waiting to be believed (by the upstream's rate limits, logs or routing), so
 *  only peers in trusted_proxies may send them. */
const CLIENT_CLAIMS = new Set([
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-original-host',
  'x-original-method',
  'x-request-id',
])
const isClientClaim = (name: string) => name.startsWith('x-forwarded-') || CLIENT_CLAIMS.has(name)

/** Identity headers that Gatehouse, or a proxy like it, gives upstreams. Upstreams take
 *  them as proof of who the user is, so one sent by anybody else (a client, or a
 *  trusted proxy in front of us) is removed on every route, whatever its spelling:
 *  many servers treat `X_Forwarded_User` or `x.forwarded.user` as the same header. */
const IDENTITY_HEADERS = new Set([
  'x-gatehouse-jwt-assertion',
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-pomerium-jwt-assertion',
  'remote-user',
  'remote-groups',
  'remote-name',
  'remote-email',
  'x-remote-user',
  'x-webauth-user',
])

/** `configured` holds identity.header and the jwt_claims_headers names, lower-cased. */
export function isIdentityHeader(name: string, configured: ReadonlySet<string>): boolean {
  const canonical = name.includes('_') || name.includes('.') ? name.replace(/[_.]/g, '-') : name
  return IDENTITY_HEADERS.has(canonical) || canonical.startsWith('x-auth-request-') || configured.has(canonical)
}

/** The Cookie header without Gatehouse's own cookies (by the configured name): the
 *  session is ours, and an upstream that logged or echoed it would leak it. */
export function withoutOwnCookies(cookie: string, sessionCookieName: string): string | undefined {
  if (!cookie.includes(sessionCookieName)) return cookie
  const kept: string[] = []
  for (const pair of cookie.split(';')) {
    const eq = pair.indexOf('=')
    if (isOwnCookie((eq === -1 ? pair : pair.slice(0, eq)).trim(), sessionCookieName)) continue
    kept.push(pair.trim())
  }
  return kept.length > 0 ? kept.join('; ') : undefined
}

/** An upstream's Set-Cookie values minus any that would set or overwrite one of ours:
 *  an app (or whoever controls it) must not plant or replace a user's session. */
function withoutOwnSetCookies(values: string | string[], sessionCookieName: string): string[] | undefined {
  const kept: string[] = []
  for (const value of Array.isArray(values) ? values : [values]) {
    const eq = value.indexOf('=')
    if (!isOwnCookie((eq === -1 ? value : value.slice(0, eq)).trim(), sessionCookieName)) kept.push(value)
  }
  return kept.length > 0 ? kept : undefined
}

/** Method overrides let a client turn a GET the policy allowed into a DELETE some
 *  frameworks then perform; the policy judged the real method, so these never pass. */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override'])

/** Names listed in a Connection header are hop-by-hop too (RFC 9110 7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? value.join(',') : value
  if (text === 'keep-alive' || text === 'close') return undefined
  const tokens = new Set<string>()
  for (const token of text.split(',')) {
    const name = token.trim().toLowerCase()
    if (name) tokens.add(name)
  }
  return tokens
}

/** A set_request_headers template filled for one session; undefined when the session
 *  lacks a token it names (no ID token kept, say), so no half-filled header is sent. */
function fillTemplate(parts: readonly TemplatePart[], jwt: string, data: SessionData): string | undefined {
  let out = ''
  for (const part of parts) {
    if (typeof part === 'string') out += part
    else {
      const value = part.token === 'jwt' ? jwt : part.token === 'id_token' ? data.idToken : data.accessToken
      if (value === undefined) return undefined
      out += value
    }
  }
  return out
}

export interface ForwardContext {
  readonly route: Route
  readonly peerAddress: string
  readonly trusted: boolean
  /** Scheme the client used to reach us (or, from a trusted proxy, said it used). */
  readonly proto: string
  readonly requestId: string
  readonly upstreamHost: string
  /** Where the assertion goes, and every header name that carries identity here
   *  (identity.header, jwt_claims_headers): stripped from clients like the built-in names. */
  readonly identity: Pick<IdentitySettings, 'header' | 'headerNames' | 'claimHeaders'>
  readonly sessionCookieName: string
  /** Who the user is, and the assertion vouching for it; undefined without a session. */
  readonly session: { readonly data: SessionData; readonly assertion: string } | undefined
}

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, ctx: ForwardContext, upgrade: string | undefined): Record<string, string | string[]> {
  const { route, trusted } = ctx
  const dropped = connectionTokens(incoming.connection)
  const out: Record<string, string | string[]> = {}
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || name === 'host') continue
    if (dropped !== undefined && dropped.has(name)) continue
    if (isIdentityHeader(name, ctx.identity.headerNames) || METHOD_OVERRIDES.has(name)) continue
    if (!trusted && isClientClaim(name)) continue
    if (route.removeRequestHeaders.has(name)) continue
    const value = incoming[name]
    if (value !== undefined) out[name] = value
  }
  if (typeof out.cookie === 'string') {
    const cookie = withoutOwnCookies(out.cookie, ctx.sessionCookieName)
    if (cookie === undefined) delete out.cookie
    else out.cookie = cookie
  }

  const clientHost = incoming.host ?? ''
  const priorFor = trusted ? incoming['x-forwarded-for'] : undefined
  out['x-forwarded-for'] = priorFor ? `${priorFor}, ${ctx.peerAddress}` : ctx.peerAddress
  if (!trusted || out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = ctx.proto
  if (!trusted || out['x-forwarded-host'] === undefined) out['x-forwarded-host'] = clientHost
  out['x-request-id'] = ctx.requestId
  const hostHeader = route.hostHeader
  out.host = hostHeader.kind === 'preserve' ? clientHost : hostHeader.kind === 'rewrite' ? hostHeader.value : ctx.upstreamHost

  const { session } = ctx
  if (session !== undefined) {
    out[ctx.identity.header] = session.assertion
    if (route.passIdentityHeaders) writeIdentityHeaders(out, session.data, 'forwarded')
    for (const [header, claim] of ctx.identity.claimHeaders) {
      const value = findClaim(session.data.claims, claim)
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[header] = encodeHeaderValue(String(value))
      else if (Array.isArray(value)) out[header] = encodeGroups(value.map(String))
    }
    for (const [header, parts] of route.identityRequestHeaders) {
      const value = fillTemplate(parts, session.assertion, session.data)
      if (value !== undefined) out[header] = value
    }
  }

  for (const [name, value] of route.setRequestHeaders) out[name] = value
  if (upgrade !== undefined) {
    out.connection = 'Upgrade'
    out.upgrade = upgrade
  }
  return out
}

/** What the client's answer depends on besides the upstream's headers. */
export interface ResponseContext {
  readonly route: Route
  readonly requestId: string
  readonly sessionCookieName: string
  /** The request carried a session: the answer is about that user. */
  readonly personal: boolean
}

/** A response to a request that carried a session may hold that user's data: a shared
 *  cache must never keep it for others, whatever the upstream said. `public` and
 *  `s-maxage` are dropped and `private` added unless `private` or `no-store` is there. */
export function personalCacheControl(value: string | string[] | undefined): string {
  // Most answers carry none: no list to build.
  if (value === undefined) return 'private'
  const directives = (value === undefined ? [] : ([] as string[]).concat(value).join(',').split(','))
    .map((d) => d.trim())
    .filter((d) => d !== '' && !/^public$/i.test(d) && !/^s-maxage\s*=/i.test(d))
  if (!directives.some((d) => /^(private|no-store)$/i.test(d))) directives.unshift('private')
  return directives.join(', ')
}

/** Response headers minus hop-by-hop ones and Set-Cookies for our cookies, plus the
 *  route's set_response_headers. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, ctx: ResponseContext): OutgoingHttpHeaders {
  const { route, requestId, sessionCookieName } = ctx
  const dropped = connectionTokens(upstream.connection)
  const out: OutgoingHttpHeaders = {}
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue
    if (dropped !== undefined && dropped.has(name)) continue
    if (name === 'set-cookie') {
      const kept = withoutOwnSetCookies(upstream[name]!, sessionCookieName)
      if (kept !== undefined) out[name] = kept
      continue
    }
    out[name] = upstream[name]
  }
  out['x-request-id'] = requestId
  if (ctx.personal) out['cache-control'] = personalCacheControl(out['cache-control'] as string | string[] | undefined)
  for (const [name, value] of route.setResponseHeaders) out[name] = value
  return out
}
