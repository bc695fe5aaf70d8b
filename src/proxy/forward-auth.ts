// The forward-auth adapter: nginx `auth_request`, Traefik ForwardAuth and Caddy
// `forward_auth` ask whether a request they are about to serve may pass. The request
// they describe takes the same pipeline as a proxied one; the answer is a status with
// the identity in headers instead of a forward.

import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ForwardAuthStyle } from '../config/compile.js'
import type { ErrorCode } from '../errors.js'
import { replyError, wantsHtml } from '../http/answers.js'
import { writeIdentityHeaders } from '../identity/headers.js'
import { labelExchange } from '../ops/access-log.js'
import { normalizeTarget } from '../routes/normalize.js'
import { isPromise } from '../session/store.js'
import type { Outcome } from './outcome.js'
import { runPipeline, type PipelineDeps } from './pipeline.js'
import { replyRefusal, replySignIn } from './render.js'

type CallerStyle = 'nginx' | 'traefik'

interface Described {
  readonly method: string
  readonly scheme: 'http' | 'https'
  readonly host: string
  readonly target: string
  readonly style: CallerStyle
}

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)

/** nginx sends X-Original-URL (and X-Original-Method); Traefik and Caddy send
 *  X-Forwarded-Method/-Proto/-Host/-Uri. Traefik and Caddy pass the client's own headers
 *  through, so a client could add X-Original-URL naming a public path while asking for a
 *  protected one: the operator's declared style decides which headers count, and with
 *  `auto` a call carrying both kinds is refused. */
function describe(headers: Record<string, string | string[] | undefined>, style: ForwardAuthStyle): Described | { error: string } {
  const originalUrl = style === 'traefik' ? undefined : first(headers['x-original-url'])
  const forwardedUri = style === 'nginx' ? undefined : first(headers['x-forwarded-uri'])
  if (originalUrl !== undefined && forwardedUri !== undefined) {
    return { error: 'the call carries both X-Original-URL (nginx) and X-Forwarded-Uri (Traefik, Caddy); send one kind only, or set forward_auth.style' }
  }
  if (style === 'nginx' && originalUrl === undefined) return { error: 'send X-Original-URL (forward_auth.style is nginx)' }
  if (originalUrl !== undefined) {
    // Split by hand: the WHATWG URL parser would already resolve `%2e%2e` and `\`, and
    // the path must reach normalizeTarget exactly as nginx will serve it.
    const m = /^(https?):\/\/([^/?#\\]+)(.*)$/i.exec(originalUrl)
    if (!m) return { error: 'X-Original-URL must be an absolute http(s) URL' }
    const scheme = m[1].toLowerCase() as 'http' | 'https'
    return { method: first(headers['x-original-method']) ?? 'GET', scheme, host: m[2], target: m[3] || '/', style: 'nginx' }
  }
  const host = first(headers['x-forwarded-host'])
  if (!host || !forwardedUri) {
    return {
      error:
        style === 'traefik'
          ? 'send X-Forwarded-Host and X-Forwarded-Uri (forward_auth.style is traefik)'
          : 'send X-Original-URL (nginx) or X-Forwarded-Host and X-Forwarded-Uri (Traefik, Caddy)',
    }
  }
  const proto = (first(headers['x-forwarded-proto']) ?? 'https').toLowerCase()
  // The scheme ends up in the sign-in URL the browser is sent to: anything but http or
  // https could point it elsewhere.
  if (proto !== 'http' && proto !== 'https') return { error: 'X-Forwarded-Proto must be http or https' }
  return { method: first(headers['x-forwarded-method']) ?? 'GET', scheme: proto, host, target: forwardedUri, style: 'traefik' }
}

/** Forward-auth callers are proxies, not browsers: errors are always JSON. */
const refuse = (reply: FastifyReply, code: ErrorCode, detail?: string) => replyError(reply, code, { detail, html: false })

export function forwardAuthHandler(deps: PipelineDeps) {
  const render = (request: FastifyRequest, reply: FastifyReply, outcome: Outcome, style: CallerStyle) => {
    if (outcome.route) labelExchange(reply.raw, outcome.route.id)
    reply.header('cache-control', 'no-store')
    switch (outcome.kind) {
      case 'forward': {
        if (outcome.setCookies) reply.header('set-cookie', outcome.setCookies)
        const { session, runtime } = outcome
        if (session) {
          const headers: Record<string, string> = {}
          const { identity } = runtime.config
          headers[identity.header] = identity.signer.assertion(session.data, outcome.audience)
          writeIdentityHeaders(headers, session.data, 'auth-request')
          reply.headers(headers)
        }
        return reply.code(200).send('')
      }
      // Traefik and Caddy hand the answer to the browser, so a browser can be redirected;
      // nginx's auth_request only understands 2xx, 401 and 403.
      case 'sign_in':
        return replySignIn(reply, outcome, style === 'traefik' && wantsHtml(request.headers))
      case 'refuse':
        return replyRefusal(reply, outcome, false)
    }
  }

  return (request: FastifyRequest, reply: FastifyReply) => {
    const req = request.raw
    const { config } = deps.runtime()
    // The original request is described by headers anyone could write; only a proxy in
    // trusted_proxies may ask, or a client could claim to be requesting any URL.
    if (!config.isTrustedProxy(req.socket.remoteAddress ?? '')) {
      return refuse(reply, 'GH_ERR_FORBIDDEN', 'forward-auth callers must be listed in trusted_proxies')
    }
    const original = describe(req.headers, config.forwardAuthStyle)
    if ('error' in original) return refuse(reply, 'GH_ERR_BAD_REQUEST', original.error)
    // The raw target is normalised here exactly as a proxied request's would be.
    const normalized = normalizeTarget(original.target, config.allowPathParameters)
    if (!normalized.ok) return refuse(reply, 'GH_ERR_BAD_PATH', normalized.detail)
    const outcome = runPipeline(deps, {
      req,
      method: original.method.toUpperCase(),
      host: original.host,
      path: normalized.path,
      query: normalized.query,
      scheme: original.scheme,
      log: request.log,
    })
    if (isPromise(outcome)) return outcome.then((o) => render(request, reply, o, original.style))
    return render(request, reply, outcome, original.style)
  }
}
