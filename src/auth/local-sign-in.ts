// Signing in with a break-glass local account (local_accounts): a username and password
// form, posted to /.gatehouse/sign_in/local. For when the IdP is down, so it leans on
// nothing but the accounts file and the session store, and it is rate limited: failed
// attempts are counted per account and per client address (sign-in-limits.ts), in
// memory, per replica; with workers, by the primary for all of them.
//
// A successful sign-in makes a session like the IdP callback does (idp `local`), which
// then goes through the same policies as every other session.

import { isIPv6 } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/compile.js'
import type { ErrorCode } from '../errors.js'
import { replyError, wantsHtml } from '../http/answers.js'
import { LOCAL_SIGN_IN_PATH, SIGN_IN_PATH } from '../http/endpoints.js'
import { readForm } from '../http/form.js'
import { escapeHtml } from '../http/html.js'
import { isHttpLoopback } from '../http/loopback.js'
import type { PageShell } from '../http/pages.js'
import { clientAddress, requestOrigin } from '../http/request.js'
import { isSameOrigin, queryParam } from '../http/same-site.js'
import type { Metrics } from '../ops/metrics.js'
import { parseCookies } from '../session/cookies.js'
import { newSessionId, type SessionData, type SessionStore } from '../session/store.js'
import { handOff } from './handoff.js'
import type { SignInLimits } from './sign-in-limits.js'
import { LOCAL_IDP_ID, type LocalAccount } from './local-accounts.js'
import { isRouteOrigin, safeRedirect } from './redirect.js'

/** A username, a password and two hidden fields. */
const MAX_FORM_BYTES = 8 * 1024
/** Longer names exist in no accounts file (64 at most); counted under their first 64. */
const MAX_USERNAME_KEY = 64

const WRONG = 'Wrong username or password.'

export interface LocalSignInDeps {
  /** The current config and its session store, taken once per request. */
  runtime(): { readonly config: Config; readonly sessions: SessionStore }
  readonly metrics?: Metrics
  /** The failed-attempt counts, kept for the life of the app (reloads keep them). */
  readonly limits: SignInLimits
}

/** IPv6 clients usually hold a whole /64: counting each address alone would give one
 *  client billions of fresh budgets. IPv4 addresses count alone. */
export function addressKey(address: string): string {
  const bare = address.split('%')[0]
  if (!isIPv6(bare) || bare.includes('.')) return address
  const [head, tail] = bare.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/** The section of a sign-in page with the local account form. Every value is escaped;
 *  `hb` (authenticate_url) carries the route host's binding through the POST. */
export function localAccountsForm(rd: string, error?: string, options: { readonly hb?: string } = {}): string {
  const hidden = [`<input type="hidden" name="rd" value="${escapeHtml(rd)}">`]
  if (options.hb !== undefined) hidden.push(`<input type="hidden" name="hb" value="${escapeHtml(options.hb)}">`)
  return `<section class="local-accounts" aria-labelledby="gh-local-heading">
<h2 id="gh-local-heading">Local account</h2>
${error ? `<p class="said" role="alert">${escapeHtml(error)}</p>\n` : ''}<form method="post" action="${LOCAL_SIGN_IN_PATH}">
${hidden.join('\n')}
<label for="gh-local-username">Username</label>
<input id="gh-local-username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required>
<label for="gh-local-password">Password</label>
<input id="gh-local-password" name="password" type="password" autocomplete="current-password" required>
<p><button type="submit">Sign in</button></p>
</form>
</section>`
}

type FormOptions = Parameters<typeof localAccountsForm>[2]

/** The local sign-in page on its own, in the config's page shell, whose headers also
 *  keep the password form from being framed by another site (clickjacking). */
function sendFormPage(reply: FastifyReply, shell: PageShell, status: number, rd: string, error?: string, options: FormOptions = {}) {
  return shell.send(reply, status, shell.render('Sign in', `<h1>Sign in</h1>\n${localAccountsForm(rd, error, options)}`))
}

/** A failure as the client wants it: the form again for a browser, JSON otherwise. */
function refuse(reply: FastifyReply, shell: PageShell, code: ErrorCode, status: number, message: string, rd: string, form: FormOptions) {
  if (wantsHtml(reply.request.headers)) return sendFormPage(reply, shell, status, rd, message, form)
  return replyError(reply, code, { detail: message.replace(/\.$/, ''), html: false })
}

type Place =
  | { readonly kind: 'here'; readonly origin: string; readonly central: boolean }
  /** A route host behind authenticate_url: local sign-in happens on the authenticate host. */
  | { readonly kind: 'route host'; readonly origin: string; readonly central: string }
  | { readonly kind: 'refused'; readonly code: ErrorCode; readonly detail?: string }

/** Where local sign-in may happen: on a host a route serves, or with authenticate_url
 *  on the authenticate host only (route hosts then get the session through the handoff). */
function placeOf(request: FastifyRequest, config: Config): Place {
  const origin = requestOrigin(request.raw, config.isTrustedProxy)
  if (!origin) return { kind: 'refused', code: 'GH_ERR_BAD_HOST' }
  const central = config.authenticateOrigin
  if (central !== undefined && origin === central) return { kind: 'here', origin, central: true }
  // Like the IdP sign-in: only hosts Gatehouse serves.
  if (!isRouteOrigin(new URL(origin), config.routes)) return { kind: 'refused', code: 'GH_ERR_NO_ROUTE', detail: 'no route serves this host' }
  return central === undefined ? { kind: 'here', origin, central: false } : { kind: 'route host', origin, central }
}

const BINDING = /^[A-Za-z0-9_-]{43}$/

/** The destination and, for another host behind authenticate_url, the route host's
 *  binding; or the refusal when the destination cannot be reached safely. */
function destination(
  rdParam: string | undefined,
  hbParam: string | undefined,
  origin: string,
  config: Config,
): { rd: string; hb?: string } | { detail: string } {
  const rd = safeRedirect(rdParam, origin, config.routes) ?? `${origin}/`
  if (new URL(rd).origin === origin) return { rd }
  // Another host's session can only be handed over to the browser holding its binding.
  if (hbParam === undefined || !BINDING.test(hbParam)) return { detail: 'start signing in from the application' }
  return { rd, hb: hbParam }
}

export function registerLocalSignIn(app: FastifyInstance, deps: LocalSignInDeps): void {
  const { limits } = deps
  app.get(LOCAL_SIGN_IN_PATH, async (request, reply) => {
    const { config } = deps.runtime()
    if (!config.localAccounts) return replyError(reply, 'GH_ERR_NO_ROUTE')
    const place = placeOf(request, config)
    if (place.kind === 'refused') return replyError(reply, place.code, { detail: place.detail })
    if (place.kind === 'route host') {
      // The route host's own sign-in sets the binding cookie and leads to the
      // authenticate host, asking there for the local account form (idp=local).
      const rd = safeRedirect(queryParam(request, 'rd'), place.origin, config.routes) ?? `${place.origin}/`
      return reply.header('cache-control', 'no-store').redirect(`${SIGN_IN_PATH}?idp=${LOCAL_IDP_ID}&rd=${encodeURIComponent(rd)}`, 302)
    }
    const target = destination(queryParam(request, 'rd'), place.central ? queryParam(request, 'hb') : undefined, place.origin, config)
    if ('detail' in target) return replyError(reply, 'GH_ERR_BAD_REQUEST', { detail: target.detail })
    return sendFormPage(reply, config.pages, 200, target.rd, undefined, { hb: target.hb })
  })

  app.post(LOCAL_SIGN_IN_PATH, async (request, reply) => {
    const runtime = deps.runtime()
    const { config, sessions } = runtime
    const accounts = config.localAccounts
    if (!accounts) return replyError(reply, 'GH_ERR_NO_ROUTE')
    const place = placeOf(request, config)
    if (place.kind === 'refused') return replyError(reply, place.code, { detail: place.detail })
    if (place.kind === 'route host')
      return replyError(reply, 'GH_ERR_NO_ROUTE', { detail: `with authenticate_url, local accounts sign in on ${place.central}` })
    const { origin } = place
    const client = clientAddress(request.raw, config.isTrustedProxy)
    // Another site's form posting here would sign the browser in to an account of the
    // attacker's choosing (login CSRF), so only our own pages may post.
    if (!isSameOrigin(request, origin)) {
      request.log.warn({ idp: LOCAL_IDP_ID, client }, 'local sign-in refused: the form was posted from another site')
      return replyError(reply, 'GH_ERR_FORBIDDEN', { detail: 'the sign-in form is accepted from this site only' })
    }
    if (!/^application\/x-www-form-urlencoded\b/i.test(String(request.headers['content-type'] ?? '')))
      return replyError(reply, 'GH_ERR_BAD_REQUEST', { detail: 'the sign-in form must be sent as application/x-www-form-urlencoded' })
    const form = await readForm(request.raw, MAX_FORM_BYTES)
    if (form === undefined) return replyError(reply, 'GH_ERR_BAD_REQUEST', { detail: 'the sign-in form is too large' })
    const target = destination(form.get('rd') ?? undefined, place.central ? (form.get('hb') ?? undefined) : undefined, origin, config)
    if ('detail' in target) return replyError(reply, 'GH_ERR_BAD_REQUEST', { detail: target.detail })
    const { rd, hb } = target
    const username = form.get('username') ?? ''
    const password = form.get('password') ?? ''
    // The username is not filled in again: the answer for a name that exists and for one
    // that does not must be the same, byte for byte.
    const again = { hb }
    if (username === '' || password === '') return refuse(reply, config.pages, 'GH_ERR_BAD_REQUEST', 400, 'Enter a username and a password.', rd, again)

    const key = username.slice(0, MAX_USERNAME_KEY)
    const attempt = { known: accounts.has(key), username: key, address: addressKey(client) }
    const limited = await limits.attempt(attempt)
    if (limited) {
      // Refused before the password is looked at: once locked, the right password does
      // not get in either, or guessing could simply go on.
      request.log.warn({ idp: LOCAL_IDP_ID, username: key, client, limit: limited.limit }, 'local sign-in refused: too many failed attempts')
      deps.metrics?.signIns.inc({ idp: LOCAL_IDP_ID, result: 'rate_limited' })
      reply.header('retry-after', String(limited.seconds))
      const wait = `Too many failed sign-ins; try again in ${Math.ceil(limited.seconds / 60)} minute${limited.seconds > 60 ? 's' : ''}.`
      return refuse(reply, config.pages, 'GH_ERR_TOO_MANY_SIGN_INS', 429, wait, rd, again)
    }
    const account = await accounts.check(username, password)
    if (!account) {
      // Never which of the two was wrong; the log has the name tried (never the password).
      request.log.warn({ idp: LOCAL_IDP_ID, username: key, client }, 'local sign-in refused: wrong username or password')
      deps.metrics?.signIns.inc({ idp: LOCAL_IDP_ID, result: 'refused' })
      return refuse(reply, config.pages, 'GH_ERR_UNAUTHENTICATED', 401, WRONG, rd, again)
    }
    limits.succeeded(attempt)

    const data = sessionData(account)
    // A sign-in always starts a new session (new sid, new cookie): no fixation.
    const cookies = await sessions.set(data, parseCookies(request.headers.cookie), { httpLoopback: isHttpLoopback(origin) })
    request.log.info({ idp: LOCAL_IDP_ID, user: account.username, sid: data.sid, client }, 'signed in')
    deps.metrics?.signIns.inc({ idp: LOCAL_IDP_ID, result: 'signed_in' })
    if (hb !== undefined) return handOff(reply, runtime, { data, exp: Math.floor(data.signedInAt!) + config.session.lifetimeSeconds }, rd, hb, cookies)
    // 303: the browser follows with a GET, and a reload does not post the password again.
    return reply.header('set-cookie', cookies).header('cache-control', 'no-store').redirect(rd, 303)
  })
}

/** The session of a local account: the same shape as an IdP's, without tokens. */
function sessionData(account: LocalAccount): SessionData {
  const claims: Record<string, unknown> = {
    sub: account.username,
    preferred_username: account.username,
    ...(account.email !== undefined ? { email: account.email } : {}),
    ...(account.name !== undefined ? { name: account.name } : {}),
    groups: [...account.groups],
    amr: ['pwd'],
  }
  return {
    sid: newSessionId(),
    idp: LOCAL_IDP_ID,
    sub: account.username,
    user: account.username,
    email: account.email,
    name: account.name,
    groups: [...account.groups],
    claims,
    // Not rounded: a sign-out of this user a moment before (revoking the user's sessions
    // up to that instant) must not cover a sign-in made after it within the same second.
    signedInAt: Date.now() / 1000,
  }
}
