// Seeded fuzzing: a few thousand random request targets and header names/values thrown
// at a Gatehouse with a public route and a deny rule on /admin. Nothing may be a 5xx (or
// go unanswered), the upstream may never receive a path under /admin, and no identity
// header may reach it. Set GATEHOUSE_FUZZ_SEED to replay a run; it is printed on failure.

import t from 'tap'
import { rawRequest } from '../helpers/raw.js'
import { attackProxy, HOST } from './common.js'

const SEED = Number(process.env.GATEHOUSE_FUZZ_SEED ?? 0x5eed2026) >>> 0
const COUNT = 6000
const BUDGET_MS = 22_000
const CONCURRENCY = 16

/** mulberry32: small, fast, and the same on every machine. */
function rng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const PIECES = [
  '/',
  '/',
  '/',
  '//',
  '.',
  '..',
  '%',
  '%2e',
  '%2E',
  '%2e%2e',
  '%252e',
  '%2f',
  '%2F',
  '%5c',
  '%00',
  '%25',
  '%c0%ae',
  '%e2%80%a5',
  '%ef%bc%8e',
  '%61',
  '%41',
  '%3b',
  ';',
  ';x=1',
  '\\',
  '?',
  '#',
  '&',
  '=',
  'admin',
  'Admin',
  'ADMIN',
  '%61dmin',
  'adm%69n',
  'public',
  'internal',
  'a',
  'b',
  '0',
  'f',
  'F',
  'g',
  'é',
  '\u2025',
  '\uff0e',
  '\u3002',
  '~',
  '-',
  '_',
  '!',
  '$',
  "'",
  '(',
  '*',
  '+',
  ',',
  ':',
  '@',
  '"',
  '<',
  '>',
  '[',
  ']',
  '{',
  '|',
  '}',
  '^',
  '`',
]
/** Pieces that mostly survive normalisation, so a good share of requests is routed and judged. */
const CLEAN_PIECES = [
  '/',
  '/',
  '//',
  '.',
  '..',
  '%2e',
  '%2E',
  '%2e%2e',
  '.%2e',
  '%252e',
  'admin',
  'Admin',
  '%61dmin',
  'adm%69n',
  '%41dmin',
  'public',
  'internal',
  'x',
  '~',
  '-',
  '%20',
  '%c3%a9',
  '?',
  '?x=/../admin',
  '&',
]
const HEX = '0123456789abcdefABCDEFxz'
const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~"
const NAME_PIECES = [
  'x-forwarded-',
  'user',
  'email',
  'groups',
  'x-gatehouse-jwt-assertion',
  'remote-user',
  'x-auth-request-',
  'host',
  'transfer-encoding',
  'content-length',
  'connection',
  'upgrade',
  'x-original-url',
  'x-http-method-override',
  'forwarded',
  'cookie',
  'expect',
  'te',
  '_',
  '.',
  '-',
]
const VALUE_PIECES = [
  'chunked',
  'admin',
  '/admin',
  'close',
  'keep-alive, x-forwarded-for',
  'websocket',
  '0',
  '-1',
  '100-continue',
  'app.test',
  'evil.test',
  '_gatehouse=AAAA',
  ' ',
  '\t',
  ',',
  'é',
]

function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n)
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]
  const target = (): string => {
    let out = random() < 0.9 ? '/' : ''
    const n = 1 + int(14)
    if (random() < 0.5) {
      for (let i = 0; i < n; i++) out += pick(CLEAN_PIECES)
      return out
    }
    for (let i = 0; i < n; i++) {
      const r = random()
      out += r < 0.7 ? pick(PIECES) : r < 0.85 ? '%' + pick([...HEX]) + pick([...HEX]) : String.fromCharCode(0x20 + int(0x5f))
    }
    return out.replace(/ /g, random() < 0.5 ? '' : '%20')
  }
  const headerName = (): string => {
    if (random() < 0.5) {
      let name = ''
      const n = 1 + int(4)
      for (let i = 0; i < n; i++) name += pick(NAME_PIECES)
      return random() < 0.3 ? name.toUpperCase() : name
    }
    let name = ''
    const n = 1 + int(20)
    const chars = random() < 0.7 ? NAME_CHARS.replace(/[_.]/g, '') : NAME_CHARS
    for (let i = 0; i < n; i++) name += chars[int(chars.length)]
    return name
  }
  const headerValue = (): string => {
    let value = ''
    const n = int(6)
    for (let i = 0; i < n; i++) value += random() < 0.5 ? pick(VALUE_PIECES) : String.fromCharCode(0x21 + int(0x5e))
    if (random() < 0.02) value += '\0'
    return value
  }
  const request = (): Buffer => {
    const lines = [`Host: ${random() < 0.95 ? HOST : pick(['APP.TEST.', 'app.test:80', 'app.test, evil.test', 'evil.test', ''])}`]
    const headers = random() < 0.4 ? 0 : int(4)
    for (let i = 0; i < headers; i++) lines.push(`${headerName()}: ${headerValue()}`)
    const method = random() < 0.8 ? 'GET' : pick(['POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'get', 'TRACE'])
    return Buffer.from(`${method} ${target()} HTTP/1.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`, 'utf8')
  }
  return request
}

const IDENTITY =
  /^(x-forwarded-(user|email|groups|preferred-username)|x-gatehouse-jwt-assertion|x-pomerium-jwt-assertion|remote-(user|groups|name|email)|x-remote-user|x-webauth-user|x-auth-request-.*)$/

t.test(`fuzzing request targets and headers (seed ${SEED})`, { timeout: 30_000 }, async (t) => {
  const p = await attackProxy(t)
  const next = generator(rng(SEED))
  const started = Date.now()
  const failures: string[] = []
  const statuses = new Map<number, number>()
  let sent = 0
  const worker = async () => {
    while (sent < COUNT && Date.now() - started < BUDGET_MS) {
      const bytes = next()
      sent++
      const res = await rawRequest(p.gh.port, bytes, 2000).catch((err: Error) => ({ status: -1, raw: String(err) }))
      // The final answer counts, not an interim 100 Continue.
      const finals = [...res.raw.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1])).filter((s) => s >= 200)
      if (finals.some((s) => s >= 500)) failures.push(`${finals.join(',')}: ${JSON.stringify(bytes.toString('latin1').split('\r\n\r\n')[0]).slice(0, 300)}`)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      // A request that announces a body it never sends (random Transfer-Encoding,
      // Content-Length or Expect values) may rightly wait for it: silence is fine there.
      const waitsForBody = /\r\n(transfer-encoding|content-length|expect)\s*:/i.test(bytes.toString('latin1'))
      if (waitsForBody && (res.status === 0 || res.status === 100)) continue
      if (!(res.status >= 100 && res.status < 500))
        failures.push(
          `${res.status}: ${JSON.stringify(bytes.toString('latin1').split('\r\n\r\n')[0]).slice(0, 300)} -> ${JSON.stringify(res.raw.slice(0, 200))}`,
        )
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  t.comment(
    `seed ${SEED}: ${sent} requests in ${Date.now() - started} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${p.up.received.length} forwarded`,
  )
  t.ok(sent >= 2000, `a few thousand requests (${sent})`)
  t.same(failures.slice(0, 10), [], `no 5xx and no request left unanswered (${failures.length} bad, seed ${SEED})`)
  const admin = p.up.received.filter((r) => r.url.split('?', 1)[0].startsWith('/admin')).map((r) => r.url)
  t.same(admin.slice(0, 10), [], `the upstream never received a path under /admin (seed ${SEED})`)
  const identity = p.up.received.flatMap((r) =>
    Object.keys(r.headers)
      .filter((n) => IDENTITY.test(n.replace(/[_.]/g, '-')))
      .map((n) => `${r.url}: ${n}`),
  )
  t.same(identity.slice(0, 10), [], `no identity header reached the upstream (seed ${SEED})`)
  const bad = p.up.received
    .filter((r) => !r.url.startsWith('/') || /[\\#;]|%(2f|5c|00)/i.test(r.url.split('?', 1)[0]) || /(^|\/)\.\.?(\/|$)/.test(r.url.split('?', 1)[0]))
    .map((r) => r.url)
  t.same(bad.slice(0, 10), [], 'every forwarded path is normalised (no dot segments, \\, #, ;, encoded / \\ NUL)')
})
