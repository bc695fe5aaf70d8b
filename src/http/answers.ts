// Error answers: an HTML page for browsers, JSON for everything else, both carrying
// the request id so a user's report can be matched with the logs.

import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { ERRORS, type ErrorCode } from '../errors.js'
import { escapeHtml } from './html.js'
import { page } from './pages.js'

export const wantsHtml = (headers: IncomingHttpHeaders) => (headers.accept ?? '').includes('text/html')

export interface ErrorBody {
  status: number
  contentType: string
  body: string
}

/** `extra` adds fields to the JSON form (e.g. sign_in_url); the HTML page ignores them. */
export function renderError(code: ErrorCode, requestId: string, html: boolean, detail?: string, extra?: Record<string, unknown>, retryUrl?: string): ErrorBody {
  const { status, message } = ERRORS[code]
  if (!html) {
    const json: Record<string, unknown> = { error: code, status, message, request_id: requestId }
    if (detail) json.detail = detail
    if (retryUrl) json.retry_url = retryUrl
    if (extra) Object.assign(json, extra)
    return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(json) }
  }
  const title = `${status} ${STATUS_CODES[status] ?? ''}`.trim()
  const body = page(
    title,
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message.charAt(0).toUpperCase() + message.slice(1))}.</p>
${detail ? `<p>${escapeHtml(detail)}</p>` : ''}${retryUrl ? `<p><a href="${escapeHtml(retryUrl)}">Try again</a></p>` : ''}<p><small>Error <code>${code}</code> · request <code>${escapeHtml(requestId)}</code> · Gatehouse</small></p>`,
  )
  return { status, contentType: 'text/html; charset=utf-8', body }
}

export interface ReplyErrorOptions {
  detail?: string
  /** Default: HTML when the client accepts it. */
  html?: boolean
  extra?: Record<string, unknown>
  /** Where to try again (a sign-in that failed): a link on the page, retry_url in JSON. */
  retryUrl?: string
}

/** The error answer through fastify, with the request id and no caching. */
export function replyError(reply: FastifyReply, code: ErrorCode, options: ReplyErrorOptions = {}) {
  const page = renderError(code, reply.request.id, options.html ?? wantsHtml(reply.request.headers), options.detail, options.extra, options.retryUrl)
  return reply.code(page.status).header('cache-control', 'no-store').header('x-request-id', reply.request.id).type(page.contentType).send(page.body)
}

/** Answers on a plain ServerResponse (used after fastify's reply has been hijacked). */
export function sendError(res: ServerResponse, headers: IncomingHttpHeaders, code: ErrorCode, requestId: string, detail?: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const page = renderError(code, requestId, wantsHtml(headers), detail)
  res.writeHead(page.status, {
    'content-type': page.contentType,
    'content-length': Buffer.byteLength(page.body),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  })
  res.end(page.body)
}

export interface SocketErrorOptions {
  readonly detail?: string
  readonly setCookies?: readonly string[]
  /** Added to the JSON body (sign_in_url, say). */
  readonly extra?: Record<string, unknown>
}

/** Answers on a raw socket, for upgrade requests that never became a ServerResponse;
 *  returns the status written. */
export function writeSocketError(socket: Duplex, code: ErrorCode, requestId: string, options: SocketErrorOptions = {}): number {
  const page = renderError(code, requestId, false, options.detail, options.extra)
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${page.status} ${STATUS_CODES[page.status] ?? ''}\r\n` +
        `content-type: ${page.contentType}\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\n` +
        (options.setCookies ?? []).map((c) => `set-cookie: ${c}\r\n`).join('') +
        `cache-control: no-store\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${page.body}`,
    )
  }
  return page.status
}
