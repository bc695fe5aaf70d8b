// Shared setup for the attack suite: an echo upstream behind Gatehouse with a public
// route on /public, a public catch-all with a deny rule on /admin, and a route nobody
// may use on /internal. Every case checks the status Gatehouse answered AND what the
// upstream saw because of it.

import type { Test } from 'tap'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { rawRequest, type RawResponse } from '../helpers/raw.js'
import { upstream, type EchoUpstream, type Received } from '../helpers/upstream.js'

export const HOST = 'app.test'

export interface Proxy {
  gh: RunningGatehouse
  up: EchoUpstream
}

export function attackYaml(origin: string, top = ''): string {
  return `${top}routes:
  - name: public
    from: http://${HOST}
    to: ${origin}
    prefix: /public
    allow_public_unauthenticated_access: true
  - name: site
    from: http://${HOST}
    to: ${origin}
    prefix: /
    allow_public_unauthenticated_access: true
    policy:
      deny:
        or:
          - http_path: { starts_with: /admin }
  - name: internal
    from: http://${HOST}
    to: ${origin}
    prefix: /internal
`
}

export async function attackProxy(t: Test, top = ''): Promise<Proxy> {
  const up = await upstream(t)
  const gh = await gatehouse(t, attackYaml(up.origin, top))
  return { gh, up }
}

/** A request as bytes: request line, headers (each given as a whole line), blank line, body. */
export function rawHttp(target: string, lines: string[] = [`Host: ${HOST}`], body = '', method = 'GET'): Buffer {
  return Buffer.from(`${method} ${target} HTTP/1.1\r\n${[...lines, 'Connection: close'].map((l) => l + '\r\n').join('')}\r\n${body}`, 'latin1')
}

/** Sends raw bytes and returns the answer together with what the upstream received meanwhile. */
export async function exchange(p: Proxy, bytes: string | Buffer, waitMs = 1500): Promise<{ res: RawResponse; seen: Received[] }> {
  const before = p.up.received.length
  const res = await rawRequest(p.gh.port, bytes, waitMs)
  return { res, seen: p.up.received.slice(before) }
}

/** Statuses: one number, or a list of acceptable ones. */
export type Status = number | readonly number[]
export const statusOk = (got: number, want: Status) => (typeof want === 'number' ? got === want : want.includes(got))

/** A refusal: the status, and the upstream saw nothing at all. */
export function assertRefused(t: Test, label: string, got: { res: RawResponse; seen: Received[] }, status: Status, options?: { todo?: string }): void {
  t.ok(statusOk(got.res.status, status), `${label}: status ${got.res.status}, want ${JSON.stringify(status)}`, options ?? {})
  t.equal(got.seen.length, 0, `${label}: the upstream received nothing`, options ?? {})
}

/** An allowed request: 200, exactly one upstream request, with exactly `url`. */
export function assertForwarded(
  t: Test,
  label: string,
  got: { res: RawResponse; seen: Received[] },
  url: string,
  options?: { todo?: string },
): Received | undefined {
  t.equal(got.res.status, 200, `${label}: status`, options ?? {})
  t.equal(got.seen.length, 1, `${label}: one upstream request`, options ?? {})
  t.equal(got.seen[0]?.url, url, `${label}: the upstream saw exactly ${url}`, options ?? {})
  return got.seen[0]
}

/** The upstream never saw a path under /admin, whatever the spelling that got it there. */
export function assertNoAdmin(t: Test, up: EchoUpstream, label = 'no /admin upstream'): void {
  const leaked = up.received.filter((r) => r.url.split('?', 1)[0].startsWith('/admin')).map((r) => r.url)
  t.same(leaked, [], label)
}
