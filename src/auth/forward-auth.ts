// Forward-auth: nginx `auth_request`, Traefik ForwardAuth and Caddy `forward_auth` ask
// Gatehouse whether a request they are about to serve may pass. The answer is the
// route's policy decision for the request they describe, with the identity in headers.

import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Config } from '../config/compile.js'
import { normalizeTarget } from '../routes/normalize.js'
import type { ErrorCode } from '../errors.js'
import { replyError, wantsHtml } from '../http/answers.js'
import { resolveRoute } from '../proxy/resolve.js'
import type { Runtime } from '../proxy/runtime.js'
import { requestCookies } from '../session/store.js'
import { SIGN_IN_PATH } from './flow.js'

export const FORWARD_AUTH_PATH = '/.gatehouse/auth'

interface Described { method: string; proto: string; host: string; target: string; style: 'nginx' | 'traefik' }

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)

/** nginx sends X-Original-URL (and X-Original-Method); Traefik and Caddy send
 *  X-Forwarded-Method/-Proto/-Host/-Uri. */
function describe(headers: Record<string, string | string[] | undefined>): Described | undefined {
  const originalUrl = first(headers['x-original-url'])
  if (originalUrl) {
    // Split by hand: the WHATWG URL parser would already resolve `%2e%2e` and `\`, and
    // the path must reach normalizeTarget exactly as nginx will serve it.
    const m = /^(https?):\/\/([^/?#\\]+)(.*)$/i.exec(originalUrl)
    if (!m) return undefined
    return { method: first(headers['x-original-method']) ?? 'GET', proto: m[1].toLowerCase(), host: m[2], target: m[3] || '/', style: 'nginx' }
  }
  const host = first(headers['x-forwarded-host'])
  const uri = first(headers['x-forwarded-uri'])
  if (!host || !uri) return undefined
  return { method: first(headers['x-forwarded-method']) ?? 'GET', proto: first(headers['x-forwarded-proto']) ?? 'https', host, target: uri, style: 'traefik' }
}

/** Forward-auth callers are proxies, not browsers: always JSON. */
const refuse = (reply: FastifyReply, code: ErrorCode, detail?: string, extra?: Record<string, unknown>) =>
  replyError(reply, code, { detail, html: false, extra })

export function registerForwardAuth(app: FastifyInstance, runtime: () => Runtime): void {
  app.all(FORWARD_AUTH_PATH, (request, reply) => {
    const current = runtime()
    const config: Config = current.config
    const req = request.raw
    // The original request is described by headers anyone could write; only a proxy in
    // trusted_proxies may ask, or a client could claim to be requesting any URL.
    if (!config.isTrustedProxy(req.socket.remoteAddress ?? '')) {
      return refuse(reply, 'GH_ERR_FORBIDDEN', 'forward-auth callers must be listed in trusted_proxies')
    }
    const original = describe(req.headers)
    if (!original) return refuse(reply, 'GH_ERR_BAD_REQUEST', 'send X-Original-URL (nginx) or X-Forwarded-Host and X-Forwarded-Uri (Traefik, Caddy)')
    const normalized = normalizeTarget(original.target, config.allowPathParameters)
    if (!normalized.ok) return refuse(reply, 'GH_ERR_BAD_PATH', normalized.detail)
    const session = current.sessions.read(requestCookies(req))
    const resolution = resolveRoute({ runtime: current, log: request.log, user: session?.user }, req, normalized.path, { method: original.method.toUpperCase(), host: original.host })
    reply.header('cache-control', 'no-store')
    if (resolution.ok) {
      if (session) {
        const { data } = session
        reply.header(config.identity.header, config.identity.signer.assertion(session.identity, original.host.split(':')[0].toLowerCase()))
        reply.header('x-auth-request-user', data.user)
        if (data.email) reply.header('x-auth-request-email', data.email)
        reply.header('x-auth-request-groups', data.groups.join(','))
        reply.header('x-auth-request-preferred-username', data.user)
      }
      return reply.code(200).send('')
    }
    if (resolution.code !== 'GH_ERR_UNAUTHENTICATED') return refuse(reply, resolution.code)
    const signIn = `${original.proto}://${original.host}${SIGN_IN_PATH}?rd=${encodeURIComponent(`${original.proto}://${original.host}${original.target}`)}`
    // Traefik and Caddy hand the answer to the browser, so a browser can be redirected;
    // nginx's auth_request only understands 2xx, 401 and 403.
    if (original.style === 'traefik' && wantsHtml(req.headers)) return reply.code(302).header('location', signIn).send('')
    return refuse(reply, 'GH_ERR_UNAUTHENTICATED', undefined, { sign_in_url: signIn })
  })
}
