// How an outcome that is not a forward is answered over HTTP (fastify's reply). The
// websocket and forward-auth adapters answer the same outcomes in their own forms.

import type { IncomingMessage } from 'node:http'
import type { FastifyReply } from 'fastify'
import { signInHref } from '../auth/pages.js'
import { footnote, replyError, wantsHtml } from '../http/answers.js'
import { SIGN_OUT_PATH, USER_PAGE_PATH } from '../http/endpoints.js'
import { escapeHtml } from '../http/html.js'
import type { PageShell } from '../http/pages.js'
import type { Refusal, SignIn } from './outcome.js'

/** A browser navigating: a GET or HEAD that accepts HTML (not XHR, fetch or an API). */
export function isNavigation(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && wantsHtml(req.headers)
}

/** `redirect`: a redirect to sign in (browsers navigating); otherwise 401 JSON naming
 *  the sign-in URL, which a script can follow itself. */
export function replySignIn(reply: FastifyReply, outcome: SignIn, redirect: boolean) {
  if (outcome.setCookies) reply.header('set-cookie', outcome.setCookies)
  if (redirect) {
    return reply.code(302).header('cache-control', 'no-store').header('location', outcome.signInUrl).send()
  }
  // Also as a header: a front proxy (nginx's auth_request) cannot read the body, and
  // this URL has rd encoded properly, which nginx cannot do itself.
  reply.header('x-gatehouse-sign-in', outcome.signInUrl)
  return replyError(reply, 'GH_ERR_UNAUTHENTICATED', { html: false, extra: { sign_in_url: outcome.signInUrl } })
}

export function replyRefusal(reply: FastifyReply, outcome: Refusal, html?: boolean) {
  if (outcome.setCookies) reply.header('set-cookie', outcome.setCookies)
  if (outcome.code === 'GH_ERR_FORBIDDEN' && outcome.route) {
    const { route } = outcome
    if (html ?? wantsHtml(reply.request.headers)) {
      const shell = reply.server.pageShell!
      return shell.send(reply.header('x-request-id', reply.request.id), 403, forbiddenPage(shell, outcome, reply.request.id))
    }
    const extra: Record<string, unknown> = { route: route.id }
    if (route.explanation !== undefined) extra.explanation = route.explanation
    if (route.remediation !== undefined) extra.remediation = route.remediation
    return replyError(reply, outcome.code, { detail: outcome.detail, html: false, extra })
  }
  return replyError(reply, outcome.code, { detail: outcome.detail, html })
}

/** Remediation that is a web address becomes a link; anything else stays text (a
 *  javascript: or data: URL never becomes a link). */
function remediationHtml(text: string): string {
  return /^https?:\/\/\S+$/.test(text) ? `<a href="${escapeHtml(text)}">${escapeHtml(text)}</a>` : escapeHtml(text)
}

/** The 403 page: who you are, what refused you, what you can do about it. */
function forbiddenPage(shell: PageShell, outcome: Refusal, requestId: string): string {
  const route = outcome.route!
  const data = outcome.session?.data
  const who = data
    ? `<p>You are signed in as <strong>${escapeHtml(data.name ?? data.user)}</strong>${data.email ? ` (${escapeHtml(data.email)})` : ''}${
        data.groups.length > 0 ? `, in the groups ${escapeHtml(data.groups.join(', '))}` : ', in no groups'
      }.</p>`
    : '<p>You are not signed in.</p>'
  const explanation = route.explanation !== undefined ? `<div class="note" role="note"><p>${escapeHtml(route.explanation)}</p></div>` : ''
  const remediation = route.remediation !== undefined ? `<p>${remediationHtml(route.remediation)}</p>` : ''
  const again = outcome.returnTo ?? '/'
  return shell.render(
    '403 Access denied',
    `<h1>Access denied</h1>
<h2>What happened</h2><p>The policy of <strong>${escapeHtml(route.id)}</strong> does not let this account in.</p>${who}${explanation}
<h2>What you can do</h2>${remediation}<p>If you should have access, ask your administrator and give them the request id below. If you have another account that does, sign in with it.</p>
<div class="actions"><a class="button" href="${escapeHtml(signInHref({ rd: again, prompt: 'login' }))}">Sign in as someone else</a><a class="button secondary" href="${USER_PAGE_PATH}">Your account</a><a class="button secondary" href="${SIGN_OUT_PATH}">Sign out</a></div>
${footnote('GH_ERR_FORBIDDEN', requestId)}`,
  )
}
