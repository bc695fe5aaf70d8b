// One sign-in for every route (authenticate_url): users sign in on the authenticate host
// only, and each route host receives its own session cookie through a handoff.
//
// 1. A route host without a session sends the browser to its own sign-in endpoint,
//    which sets a binding cookie (random, on the route host) and redirects to the
//    authenticate host with the binding's hash.
// 2. The authenticate host signs the user in (or finds its session) and stashes the
//    session, sealed with the session secrets, under a one-time code in the session
//    store (60 s), bound to the route host and to the binding hash. The browser goes to
//    the route host's handoff endpoint with only that code.
// 3. The route host takes the code (spent by reading it), checks the host and that this
//    browser holds the binding, and writes its own session cookie.
//
// A code in a URL is useless after its one use, to another host, or in another browser:
// nothing in the URL can be replayed into a session.

import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/compile.js'
import { replyError } from '../http/answers.js'
import { HANDOFF_PATH, SIGN_IN_PATH } from '../http/endpoints.js'
import { isHttpLoopback } from '../http/loopback.js'
import { requestOrigin } from '../http/request.js'
import { ChunkedCookie, cookiePrefix } from '../session/chunks.js'
import { nowSeconds, SessionCodec } from '../session/codec.js'
import { parseCookies } from '../session/cookies.js'
import { isSessionData, type SessionData, type SessionStore } from '../session/store.js'
import { safeRedirect } from './redirect.js'

const HANDOFF_SECONDS = 60
const BINDING_SECONDS = 600
const SEALED_NAME = 'gatehouse handoff'

interface Handoff {
  readonly host: string
  readonly binding: string
  readonly rd: string
  readonly exp: number
  readonly data: SessionData
}

export interface HandoffDeps {
  runtime(): { readonly config: Config; readonly sessions: SessionStore }
}

const hashOf = (binding: string) => createHash('sha256').update(binding).digest('base64url')

function bindingCookie(config: Config, origin: string): ChunkedCookie {
  const name = `${config.session.cookieName}_hb`
  return new ChunkedCookie({
    name,
    lifetimeSeconds: BINDING_SECONDS,
    sameSite: 'lax',
    httpLoopback: isHttpLoopback(origin) && !cookiePrefix(name),
    maxChunks: 1,
  })
}

const codecFor = (config: Config) => new SessionCodec({ secrets: config.session.secrets, lifetimeSeconds: HANDOFF_SECONDS, maxLength: 512 * 1024 })

/** On a route host: the browser is sent to sign in on the authenticate host, bound to a
 *  cookie set here, so that only this browser can take the handoff back. */
export function sendToAuthenticateHost(reply: FastifyReply, config: Config, central: string, origin: string, query: URLSearchParams): FastifyReply {
  const binding = randomBytes(24).toString('base64url')
  const target = new URL(`${central}${SIGN_IN_PATH}`)
  for (const key of ['rd', 'idp']) {
    const value = query.get(key)
    if (value !== null) target.searchParams.set(key, value)
  }
  if (!target.searchParams.has('rd')) target.searchParams.set('rd', `${origin}/`)
  target.searchParams.set('hb', hashOf(binding))
  return reply.header('set-cookie', bindingCookie(config, origin).write(binding, [])).header('cache-control', 'no-store').redirect(target.href, 302)
}

/** On the authenticate host, signed in: hands the session to the route host `rd` is on. */
export async function handOff(
  reply: FastifyReply,
  runtime: { readonly config: Config; readonly sessions: SessionStore },
  session: { readonly data: SessionData; readonly exp: number },
  rd: string,
  binding: string,
  extraCookies: readonly string[] = [],
): Promise<FastifyReply> {
  const target = new URL(rd)
  const handoff: Handoff = { host: target.host, binding, rd, exp: session.exp, data: session.data }
  const sealed = codecFor(runtime.config).encode(SEALED_NAME, handoff, { expiresAt: nowSeconds() + HANDOFF_SECONDS })
  const code = await runtime.sessions.stash(sealed, HANDOFF_SECONDS)
  if (extraCookies.length > 0) reply.header('set-cookie', extraCookies)
  return reply.header('cache-control', 'no-store').redirect(`${target.origin}${HANDOFF_PATH}?code=${encodeURIComponent(code)}`, 302)
}

export function registerHandoff(app: FastifyInstance, deps: HandoffDeps): void {
  app.get(HANDOFF_PATH, async (request: FastifyRequest, reply: FastifyReply) => {
    const { config, sessions } = deps.runtime()
    const origin = requestOrigin(request.raw, config.isTrustedProxy)
    const code = (request.query as { code?: unknown }).code
    if (!origin || typeof code !== 'string' || code.length > 128)
      return replyError(reply, 'GH_ERR_SIGN_IN_FAILED', { detail: 'this sign-in link is not valid' })
    const sealed = await sessions.unstash(code)
    const opened = sealed === undefined ? undefined : codecFor(config).decode<Handoff>(SEALED_NAME, sealed).payload
    const cookies = parseCookies(request.headers.cookie)
    const binding = bindingCookie(config, origin)
    const held = binding.read(cookies).value
    // Spent, expired, for another host, or started in another browser: no session.
    if (
      opened === undefined ||
      opened.host !== new URL(origin).host ||
      held === undefined ||
      hashOf(held) !== opened.binding ||
      opened.exp <= nowSeconds() ||
      !isSessionData(opened.data) ||
      !config.idpIds.has(opened.data.idp)
    ) {
      request.log.warn({ host: new URL(origin).host }, 'sign-in handoff refused')
      return replyError(reply, 'GH_ERR_SIGN_IN_FAILED', {
        detail: 'this sign-in link was used already, has expired, or was started in another browser; please start again',
      })
    }
    const written = await sessions.set(opened.data, cookies, { httpLoopback: isHttpLoopback(origin), expiresAt: opened.exp })
    const rd = safeRedirect(opened.rd, origin, config.routes) ?? `${origin}/`
    return reply
      .header('set-cookie', [...written, ...binding.write(undefined, [binding.name])])
      .header('cache-control', 'no-store')
      .redirect(rd, 302)
  })
}
