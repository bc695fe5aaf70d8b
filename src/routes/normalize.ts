// One normalisation, used both to pick the route and policy and to build the path the
// upstream receives: if the two ever differed, a request could be judged on one path
// and served on another.

import type { ErrorCode } from '../errors.js'

export type Normalized =
  | { readonly ok: true; readonly path: string; /** raw, with its leading `?`, or '' */ readonly query: string }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string }

const fail = (code: ErrorCode, detail: string): Normalized => ({ ok: false, code, detail })

/** Paths that need no work: only plain path characters, no dot segments, no `//`. */
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/
/** What may appear in a path besides percent escapes. `;` is left out on purpose: some
 *  servers (Tomcat, Spring) strip `;params` before routing, so `/admin;x/` would be judged
 *  as one path and served as another. */
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,=:@/%]*$/
const QUERY_CHAR = /^[\x21-\x7e]*$/
const UNRESERVED = /[A-Za-z0-9\-._~]/
const HEX = /^[0-9A-Fa-f]{2}$/

export function normalizeTarget(target: string, allowPathParameters = false): Normalized {
  if (target.includes('#')) return fail('GH_ERR_BAD_PATH', 'a fragment (#) is not allowed in the request target')
  const q = target.indexOf('?')
  const rawPath = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q)
  if (query && !QUERY_CHAR.test(query)) return fail('GH_ERR_BAD_PATH', 'the query string holds characters that must be percent-encoded')
  if (!rawPath.startsWith('/')) return fail('GH_ERR_BAD_PATH', 'the request target must be a path starting with /')
  if (PLAIN_PATH.test(rawPath) && !rawPath.includes('//') && !rawPath.includes('/.')) return { ok: true, path: rawPath, query }
  const path = normalizePath(rawPath, allowPathParameters)
  return typeof path === 'string' ? { ok: true, path, query } : path
}

function normalizePath(raw: string, allowPathParameters: boolean): string | Normalized {
  if (raw.includes('\\')) return fail('GH_ERR_BAD_PATH', 'backslashes are not allowed in paths')
  if (raw.includes(';') && !allowPathParameters) return fail('GH_ERR_BAD_PATH', 'path parameters (;) are not allowed')
  if (!PATH_CHAR.test(allowPathParameters ? raw.replaceAll(';', '') : raw))
    return fail('GH_ERR_BAD_PATH', 'the path holds characters that must be percent-encoded')
  const decoded = decodeUnreserved(raw)
  if (typeof decoded !== 'string') return decoded
  const segments = decoded.split('/')
  const out: string[] = []
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]
    const last = i === segments.length - 1
    if (segment === '.' || (segment === '' && !last)) continue
    if (segment === '..') {
      if (out.length === 0) return fail('GH_ERR_BAD_PATH', 'the path climbs above the root (..)')
      out.pop()
      if (last) out.push('')
      continue
    }
    out.push(segment)
  }
  // `/a/.` and `/a/..` keep a trailing slash: they name a folder.
  if (segments.length > 1 && segments[segments.length - 1] === '.' && out[out.length - 1] !== '') out.push('')
  return '/' + out.join('/')
}

/**
 * Decodes escapes of unreserved characters (so `%2e%2e` is seen as `..` and `%61dmin`
 * as `admin`) and leaves every other escape encoded, upper-cased. Encoded `/`, `\` and
 * NUL are refused: upstreams disagree on whether they separate segments. Decoding
 * happens once; `%252e` stays `%252E`.
 */
function decodeUnreserved(raw: string): string | Normalized {
  if (!raw.includes('%')) return raw
  let out = ''
  let utf8: number[] = []
  const flushUtf8 = (): Normalized | undefined => {
    if (utf8.length === 0) return undefined
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(utf8))
    } catch {
      return fail('GH_ERR_BAD_PATH', 'percent-encoded bytes are not valid UTF-8')
    }
    utf8 = []
    return undefined
  }
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (c !== '%') {
      const bad = flushUtf8()
      if (bad) return bad
      out += c
      continue
    }
    const hex = raw.slice(i + 1, i + 3)
    if (!HEX.test(hex)) return fail('GH_ERR_BAD_PATH', 'invalid percent-encoding')
    i += 2
    const byte = parseInt(hex, 16)
    if (byte >= 0x80) {
      utf8.push(byte)
      out += '%' + hex.toUpperCase()
      continue
    }
    const bad = flushUtf8()
    if (bad) return bad
    if (byte === 0x2f || byte === 0x5c || byte === 0) return fail('GH_ERR_BAD_PATH', 'encoded /, \\ or NUL is not allowed in paths')
    const ch = String.fromCharCode(byte)
    out += UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase()
  }
  return flushUtf8() ?? out
}
