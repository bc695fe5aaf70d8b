// Request smuggling: framing that a proxy and an upstream could read two ways is
// refused before anything is forwarded, and a valid chunked body arrives cleanly framed.

import t from 'tap'
import { assertForwarded, assertNoAdmin, assertRefused, attackProxy, exchange, HOST } from './common.js'

const SMUGGLED = `GET /admin HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`

/** [label, header lines after Host, body]: each must be refused with nothing upstream. */
const REFUSED: readonly [label: string, lines: string[], body: string, statuses?: readonly number[]][] = [
  ['CL.TE', ['Content-Length: 6', 'Transfer-Encoding: chunked'], `0\r\n\r\n${SMUGGLED}`],
  ['TE.CL', ['Transfer-Encoding: chunked', 'Content-Length: 3'], `8\r\nSMUGGLED\r\n0\r\n\r\n`],
  ['CL.TE with CL 0', ['Content-Length: 0', 'Transfer-Encoding: chunked'], `0\r\n\r\n`],
  ['two different Content-Length', ['Content-Length: 4', 'Content-Length: 40'], `abcd${SMUGGLED}`],
  ['Content-Length list', ['Content-Length: 4, 40'], `abcd${SMUGGLED}`],
  ['Content-Length with a sign', ['Content-Length: +4'], 'abcd'],
  ['Content-Length in hex', ['Content-Length: 0x4'], 'abcd'],
  ['Content-Length negative', ['Content-Length: -1'], 'abcd'],
  ['Content-Length not a number', ['Content-Length: four'], 'abcd'],
  ['TE gzip, chunked', ['Transfer-Encoding: gzip, chunked'], `0\r\n\r\n`, [400, 501]],
  ['TE chunked, identity', ['Transfer-Encoding: chunked, identity'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE chunked, chunked', ['Transfer-Encoding: chunked, chunked'], `0\r\n\r\n`, [400, 501]],
  ['TE identity', ['Transfer-Encoding: identity'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE gzip', ['Transfer-Encoding: gzip'], `0\r\n\r\n`, [400, 501]],
  ['TE xchunked', ['Transfer-Encoding: xchunked'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE chunked-false', ['Transfer-Encoding: chunked-false'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['two TE headers', ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['two TE chunked headers', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], `0\r\n\r\n`, [400, 501]],
  ['TE with space before the colon', ['Transfer-Encoding : chunked'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE as an obs-fold continuation', ['X-A: 1', ' Transfer-Encoding: chunked'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE value folded onto the next line', ['Transfer-Encoding:', ' chunked'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE with a vertical tab', ['Transfer-Encoding: \x0bchunked'], `0\r\n\r\n${SMUGGLED}`, [400, 501]],
  ['TE with a trailing comma', ['Transfer-Encoding: chunked,'], `0\r\n\r\n`, [400, 501]],
  ['chunk size overflow', ['Transfer-Encoding: chunked'], `ffffffffffffffffff1\r\nx\r\n0\r\n\r\n`],
  ['chunk size not hex', ['Transfer-Encoding: chunked'], `zz\r\nx\r\n0\r\n\r\n`],
  ['chunk size with a sign', ['Transfer-Encoding: chunked'], `+1\r\nx\r\n0\r\n\r\n`],
  ['chunk data longer than its size', ['Transfer-Encoding: chunked'], `1\r\nxyz\r\n0\r\n\r\n`],
]

t.test('ambiguous framing is refused and never forwarded', async (t) => {
  const p = await attackProxy(t)
  for (const [label, lines, body, statuses] of REFUSED) {
    const got = await exchange(p, Buffer.from(`POST /public/x HTTP/1.1\r\nHost: ${HOST}\r\n${lines.map((l) => l + '\r\n').join('')}\r\n${body}`, 'latin1'))
    assertRefused(t, label, got, statuses ?? 400)
    t.notMatch(got.res.raw, /HTTP\/1\.1 200/, `${label}: no second answer from a smuggled request`)
  }
  assertNoAdmin(t, p.up)
})

t.test('a valid chunked body arrives with clean framing', async (t) => {
  const p = await attackProxy(t)
  const variants: [string, string, string][] = [
    ['plain', 'Transfer-Encoding: chunked', '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'],
    ['upper case token', 'Transfer-Encoding: CHUNKED', '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'],
    ['chunk extension', 'Transfer-Encoding: chunked', '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'],
    ['trailer', 'Transfer-Encoding: chunked', '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Forwarded-User: admin\r\n\r\n'],
  ]
  for (const [label, te, body] of variants) {
    const got = await exchange(p, Buffer.from(`POST /public/x HTTP/1.1\r\nHost: ${HOST}\r\n${te}\r\nConnection: close\r\n\r\n${body}`))
    const seen = assertForwarded(t, label, got, '/public/x')
    if (!seen) continue
    t.equal(seen.body, 'hello world', `${label}: body`)
    const framing = ['content-length', 'transfer-encoding'].filter((n) => seen.headers[n] !== undefined)
    t.equal(framing.length, 1, `${label}: exactly one of Content-Length / Transfer-Encoding upstream (${framing.join(', ')})`)
    if (seen.headers['transfer-encoding'] !== undefined) t.equal(seen.headers['transfer-encoding'], 'chunked', `${label}: plain chunked upstream`)
    t.equal(seen.headers['x-forwarded-user'], undefined, `${label}: no trailer became a header`)
  }
})

t.test('a Content-Length body arrives with clean framing; extra bytes are a new request, judged on their own', async (t) => {
  const p = await attackProxy(t)
  const got = await exchange(
    p,
    Buffer.from(`POST /public/x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\nhello${SMUGGLED.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`),
  )
  t.equal(got.seen.length, 1, 'one request upstream')
  t.equal(got.seen[0]?.url, '/public/x')
  t.equal(got.seen[0]?.body, 'hello')
  t.equal(got.seen[0]?.headers['content-length'], '5')
  t.equal(got.seen[0]?.headers['transfer-encoding'], undefined)
  const statuses = [...got.res.raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))
  t.same(statuses, [200, 403], 'the pipelined /admin was judged and denied')
  assertNoAdmin(t, p.up)

  const pipelined = await exchange(
    p,
    Buffer.from(
      `GET /public/a HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /public/%2e%2e/admin HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /admin;x HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
    ),
  )
  t.same(
    pipelined.seen.map((r) => r.url),
    ['/public/a'],
    'pipelined: only the allowed request upstream',
  )
  t.same(
    [...pipelined.res.raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1])),
    [200, 403, 400],
  )
  assertNoAdmin(t, p.up)
})
