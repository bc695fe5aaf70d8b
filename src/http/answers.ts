// Error answers: an HTML page for browsers (what happened, what you can do), JSON for
// everything else, both carrying the request id so a user's report can be matched with
// the logs.

import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { ERRORS, type ErrorCode } from '../errors.js'
import { USER_PAGE_PATH } from './endpoints.js'
import { escapeHtml } from './html.js'
import { DEFAULT_SHELL, type PageShell } from './pages.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The current config's page shell (branding, templates). */
    pageShell?: PageShell
  }
}

export const wantsHtml = (headers: IncomingHttpHeaders) => (headers.accept ?? '').includes('text/html')

export interface ErrorBody {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface ErrorContext {
  readonly detail?: string
  /** Added to the JSON form only (sign_in_url, say). */
  readonly extra?: Record<string, unknown>
  /** Where to try again (a sign-in that failed): a link on the page, retry_url in JSON. */
  readonly retryUrl?: string
  /** What the identity provider said (`error`, `error_description`), shown as its words. */
  readonly idpSaid?: { readonly error: string; readonly description?: string }
}

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })

/** A page's heading and its "what you can do", by code where it has its own, else by status. */
function guidance(code: ErrorCode, status: number, ctx: ErrorContext): { title: string; advice: string } {
  const account = `<a href="${USER_PAGE_PATH}">Your account</a> lists the applications you can reach.`
  const persist = 'If it keeps happening, give your administrator the request id below.'
  if (ctx.idpSaid?.error === 'access_denied') return { title: 'Sign-in was cancelled', advice: 'You can start signing in again whenever you are ready.' }
  switch (code) {
    case 'GH_ERR_SIGN_IN_FAILED':
      return { title: 'Sign-in did not complete', advice: `Start signing in again. ${persist}` }
    case 'GH_ERR_IDP_UNAVAILABLE':
      return { title: 'The sign-in service cannot be reached', advice: `Wait a minute and try again. ${persist}` }
    case 'GH_ERR_NO_ROUTE':
      return { title: 'Nothing is served here', advice: `Check the address you opened. ${account}` }
    case 'GH_ERR_SESSION_STORE_UNAVAILABLE':
      return { title: 'Sessions are unavailable', advice: `Wait a minute and try again. ${persist}` }
  }
  if (status === 429) return { title: 'Too many requests', advice: 'Wait a moment, then try again.' }
  if (status === 502) return { title: 'The application is not answering', advice: `Try again in a minute. ${persist}` }
  if (status === 503) return { title: 'Temporarily unavailable', advice: `Try again in a minute. ${persist}` }
  if (status === 504) return { title: 'The application took too long', advice: `Try again; a smaller request may help. ${persist}` }
  if (status >= 500) return { title: 'Something went wrong', advice: persist }
  if (status === 403) return { title: 'Access denied', advice: account }
  return { title: 'This request cannot be handled', advice: `Go back and try again; if you followed a link, it may be broken. ${persist}` }
}

export function renderError(shell: PageShell, code: ErrorCode, requestId: string, html: boolean, ctx: ErrorContext = {}): ErrorBody {
  const { status, message } = ERRORS[code]
  if (!html) {
    const json: Record<string, unknown> = { error: code, status, message, request_id: requestId }
    if (ctx.detail) json.detail = ctx.detail
    if (ctx.idpSaid) json.idp_error = ctx.idpSaid
    if (ctx.retryUrl) json.retry_url = ctx.retryUrl
    if (ctx.extra) Object.assign(json, ctx.extra)
    return { status, headers: JSON_HEADERS, body: JSON.stringify(json) }
  }
  const { title, advice } = guidance(code, status, ctx)
  const said = ctx.idpSaid
    ? `<div class="said" role="note"><p>The identity provider said: <strong>${escapeHtml(ctx.idpSaid.description ?? ctx.idpSaid.error)}</strong></p>${
        ctx.idpSaid.description ? `<p class="meta">Error: <code>${escapeHtml(ctx.idpSaid.error)}</code></p>` : ''
      }</div>`
    : ''
  const detail = ctx.detail && !ctx.idpSaid ? `<p>${escapeHtml(ctx.detail)}</p>` : ''
  const retry = ctx.retryUrl ? `<div class="actions"><a class="button" href="${escapeHtml(ctx.retryUrl)}">Try again</a></div>` : ''
  const body = shell.render(
    `${status} ${title}`,
    `<h1>${escapeHtml(title)}</h1>
<h2>What happened</h2><p>${escapeHtml(message.charAt(0).toUpperCase() + message.slice(1))}.</p>${detail}${said}
<h2>What you can do</h2><p>${advice}</p>${retry}
${footnote(code, requestId)}`,
  )
  return { status, headers: shell.headers, body }
}

/** The line a user can quote to an administrator. */
export const footnote = (code: string, requestId: string) =>
  `<p class="meta">Error <code>${escapeHtml(code)}</code> · request id <code>${escapeHtml(requestId)}</code></p>`

/** The error answer through fastify, with the request id and no caching. */
export function replyError(reply: FastifyReply, code: ErrorCode, options: ErrorContext & { readonly html?: boolean } = {}) {
  const shell = reply.server.pageShell ?? DEFAULT_SHELL
  const page = renderError(shell, code, reply.request.id, options.html ?? wantsHtml(reply.request.headers), options)
  return reply.code(page.status).headers(page.headers).header('x-request-id', reply.request.id).send(page.body)
}

/** Answers on a plain ServerResponse (used after fastify's reply has been hijacked). */
export function sendError(res: ServerResponse, headers: IncomingHttpHeaders, shell: PageShell, code: ErrorCode, requestId: string, detail?: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const page = renderError(shell, code, requestId, wantsHtml(headers), { detail })
  res.writeHead(page.status, { ...page.headers, 'content-length': Buffer.byteLength(page.body), 'x-request-id': requestId })
  res.end(page.body)
}

export interface SocketErrorOptions {
  readonly detail?: string
  readonly setCookies?: readonly string[]
  /** Added to the JSON body (sign_in_url, say). */
  readonly extra?: Record<string, unknown>
}

/** Answers on a raw socket, for upgrade requests that never became a ServerResponse;
 *  returns the status written. Always JSON: no browser renders an upgrade's answer. */
export function writeSocketError(socket: Duplex, code: ErrorCode, requestId: string, options: SocketErrorOptions = {}): number {
  const page = renderError(DEFAULT_SHELL, code, requestId, false, options)
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${page.status} ${STATUS_CODES[page.status] ?? ''}\r\n` +
        `content-type: ${page.headers['content-type']}\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\n` +
        (options.setCookies ?? []).map((c) => `set-cookie: ${c}\r\n`).join('') +
        `cache-control: no-store\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${page.body}`,
    )
  }
  return page.status
}
