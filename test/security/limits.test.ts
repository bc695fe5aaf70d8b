// Size limits: a long request target is 414, oversized headers 431, and nothing is ever
// answered with a 5xx or forwarded.

import t from 'tap'
import { assertForwarded, assertRefused, attackProxy, exchange, HOST, rawHttp } from './common.js'

t.test('request target length', async (t) => {
  const p = await attackProxy(t)
  const cases: [string, string, number | 'ok'][] = [
    ['path of 8000 bytes', '/public/' + 'a'.repeat(8000 - 8), 'ok'],
    ['target of exactly 8192 bytes', '/public/' + 'a'.repeat(8192 - 8), 'ok'],
    ['path of 8193 bytes', '/public/' + 'a'.repeat(8193 - 8), 414],
    ['path of 9000 bytes', '/public/' + 'a'.repeat(9000), 414],
    ['path of 60000 bytes', '/public/' + 'a'.repeat(60000), 414],
    ['long query', '/public/x?q=' + 'b'.repeat(9000), 414],
    ['long dot-segment path', '/public' + '/.'.repeat(5000), 414],
    ['long encoded path', '/public/' + '%2e'.repeat(3000), 414],
    ['long denied path', '/admin/' + 'a'.repeat(9000), 414],
    ['long bad path', '/admin;' + 'a'.repeat(9000), 414],
  ]
  for (const [label, target, outcome] of cases) {
    const got = await exchange(p, rawHttp(target), 3000)
    if (outcome === 'ok') assertForwarded(t, label, got, target)
    else assertRefused(t, label, got, label === 'long bad path' ? [400, 414] : outcome)
    t.ok(got.res.status < 500, `${label}: never 5xx`)
  }
})

t.test('request header size', async (t) => {
  const p = await attackProxy(t)
  const cases: [string, string[], number | 'ok'][] = [
    // (the echo upstream keeps Node's 16 KiB limit, so the allowed case stays below it)
    ['one 12 KiB header', [`X-Big: ${'a'.repeat(12 * 1024)}`], 'ok'],
    ['one 65 KiB header', [`X-Big: ${'a'.repeat(65 * 1024)}`], 431],
    ['one 200 KiB header', [`X-Big: ${'a'.repeat(200 * 1024)}`], 431],
    ['many headers over 64 KiB', Array.from({ length: 700 }, (_, i) => `X-H${i}: ${'a'.repeat(100)}`), 431],
    ['a 70 KiB cookie', [`Cookie: _gatehouse=${'a'.repeat(70 * 1024)}`], 431],
    ['a 70 KiB header name', [`X-${'a'.repeat(70 * 1024)}: 1`], 431],
  ]
  for (const [label, lines, outcome] of cases) {
    const got = await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, ...lines]), 3000)
    if (outcome === 'ok') assertForwarded(t, label, got, '/public/x')
    else assertRefused(t, label, got, outcome)
    t.ok(got.res.status > 0 && got.res.status < 500, `${label}: an answer, never 5xx (${got.res.status})`)
  }
})

t.test('a server that refused oversized input still serves the next client', async (t) => {
  const p = await attackProxy(t)
  await exchange(p, rawHttp('/public/x', [`Host: ${HOST}`, `X-Big: ${'a'.repeat(200 * 1024)}`]), 3000)
  await exchange(p, rawHttp('/public/' + 'a'.repeat(20000)), 3000)
  assertForwarded(t, 'afterwards', await exchange(p, rawHttp('/public/ok')), '/public/ok')
})
