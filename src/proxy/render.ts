// How an outcome that is not a forward is answered over HTTP (fastify's reply). The
// websocket and forward-auth adapters answer the same outcomes in their own forms.

import type { IncomingMessage } from 'node:http'
import type { FastifyReply } from 'fastify'
import { replyError, wantsHtml } from '../http/answers.js'
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
  return replyError(reply, 'GH_ERR_UNAUTHENTICATED', { html: false, extra: { sign_in_url: outcome.signInUrl } })
}

export function replyRefusal(reply: FastifyReply, outcome: Refusal, html?: boolean) {
  if (outcome.setCookies) reply.header('set-cookie', outcome.setCookies)
  return replyError(reply, outcome.code, { detail: outcome.detail, html })
}
