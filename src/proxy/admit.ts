// Checks on the request as it arrived, before anything looks at its route: shapes that
// let a proxy and an upstream read one request two ways are refused, not repaired.

import type { IncomingMessage } from 'node:http'
import type { Config } from '../config/compile.js'
import { normalizeTarget, type Normalized } from '../routes/normalize.js'
import type { ErrorCode } from '../errors.js'

/** Why a request is refused before routing. */
export interface AdmitRefusal {
  readonly ok: false
  readonly code: ErrorCode
  readonly detail?: string
}

/** Longer targets are refused with 414: no legitimate app needs them, and every layer
 *  after us has its own (smaller or larger) limit, which is where ambiguity starts. */
export const MAX_TARGET_BYTES = 8 * 1024

const refuse = (code: AdmitRefusal['code'], detail: string): AdmitRefusal => ({ ok: false, code, detail })

/**
 * One pass over the raw header list:
 * - exactly one Host: two could be read differently by us and by the upstream;
 * - no `_` or `.` in header names: many upstreams fold `X_Forwarded_User` into
 *   `X-Forwarded-User`, so such names can smuggle identity headers past any filter;
 * - Transfer-Encoding, when present, is exactly `chunked`: Node accepts `gzip, chunked`,
 *   which other servers frame differently (request smuggling).
 * Node itself already refuses Content-Length together with Transfer-Encoding, and
 * conflicting Content-Lengths.
 */
export function checkRequest(req: IncomingMessage, allowUnusualHeaderNames: boolean): AdmitRefusal | undefined {
  if ((req.url?.length ?? 0) > MAX_TARGET_BYTES) return refuse('GH_ERR_URI_TOO_LONG', `the request target is longer than ${MAX_TARGET_BYTES} bytes`)
  const raw = req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++
    else if (!allowUnusualHeaderNames && (name.includes('_') || name.includes('.'))) {
      return refuse('GH_ERR_BAD_HEADER', `header names with _ or . are not accepted (${name.slice(0, 64)})`)
    }
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding' && raw[i + 1].trim().toLowerCase() !== 'chunked') {
      return refuse('GH_ERR_BAD_HEADER', 'Transfer-Encoding must be exactly chunked')
    }
  }
  if (hosts > 1) return refuse('GH_ERR_BAD_HOST', 'more than one Host header')
  return undefined
}

/** An absolute-form target (`GET http://host/path`) is accepted only when its authority
 *  is the Host header: otherwise the two name different sites. Returns the origin-form
 *  target, or undefined to refuse. */
export function originForm(target: string, host: string | undefined): string | undefined {
  if (target.startsWith('/')) return target
  const m = /^https?:\/\/([^/?#]+)(.*)$/i.exec(target)
  if (!m || host === undefined || m[1].toLowerCase() !== host.toLowerCase()) return undefined
  return m[2] === '' ? '/' : m[2].startsWith('/') ? m[2] : undefined
}

/** Everything a request must pass before routing, shared by ordinary requests and
 *  websocket upgrades: the checks above, then the one normalisation of the target. */
export function admitRequest(req: IncomingMessage, config: Pick<Config, 'allowUnusualHeaderNames' | 'allowPathParameters'>): Normalized {
  const refused = checkRequest(req, config.allowUnusualHeaderNames)
  if (refused) return { ok: false, code: refused.code, detail: refused.detail ?? '' }
  const target = originForm(req.url ?? '', req.headers.host)
  if (target === undefined) return { ok: false, code: 'GH_ERR_BAD_PATH', detail: 'the request target must be a path, or an absolute URL naming the Host' }
  return normalizeTarget(target, config.allowPathParameters)
}
