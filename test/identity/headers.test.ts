// Identity header values: plain ASCII passes as it is; anything a header cannot carry is
// percent-encoded so that one decodeURIComponent restores it, and a comma inside a group
// never splits it in two.

import { validateHeaderValue } from 'node:http'
import t from 'tap'
import { encodeGroups, encodeHeaderValue, writeIdentityHeaders } from '../../src/identity/headers.js'

const sendable = (value: string) => {
  validateHeaderValue('x-test', value)
  return /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(value)
}

t.test('values a header cannot carry are encoded; plain ones are not', async (t) => {
  const cases: [string, string][] = [
    ['alice', 'alice'],
    ['Ann Example', 'Ann Example'],
    ['ann@example.com', 'ann@example.com'],
    ['Zoë Łopez', 'Zo%C3%AB%20%C5%81opez'],
    ['Łukasz', '%C5%81ukasz'],
    ['josé@exämple.com', 'jos%C3%A9@ex%C3%A4mple.com'],
    ['tab\there', 'tab%09here'],
    ['line\r\nX-Injected: 1', 'line%0D%0AX-Injected:%201'],
    [' padded ', '%20padded%20'],
    ['100%', '100%25'],
    ['', ''],
  ]
  for (const [raw, encoded] of cases) {
    const out = encodeHeaderValue(raw)
    t.equal(out, encoded, JSON.stringify(raw))
    if (out !== '') t.ok(sendable(out), `${JSON.stringify(out)} is a valid header value`)
    t.equal(decodeURIComponent(out), raw, `${JSON.stringify(raw)} decodes back`)
  }
})

t.test('groups split on commas only between groups', async (t) => {
  const groups = ['admins', 'Kasm Premium', 'Sales, EMEA', 'Zoë']
  const value = encodeGroups(groups)
  t.equal(value, 'admins,Kasm Premium,Sales%2C%20EMEA,Zo%C3%AB')
  t.strictSame(value.split(',').map(decodeURIComponent), groups)
  t.equal(encodeGroups([]), '')
})

t.test('one builder for both header styles', async (t) => {
  const identity = { sub: 's', sid: 'x', user: 'Łukasz', email: 'ł@example.com', groups: ['a,b'], name: 'Ł' }
  const forwarded: Record<string, string> = {}
  writeIdentityHeaders(forwarded, identity, 'forwarded')
  t.strictSame(forwarded, {
    'x-forwarded-user': '%C5%81ukasz',
    'x-forwarded-email': '%C5%82@example.com',
    'x-forwarded-groups': 'a%2Cb',
    'x-forwarded-preferred-username': '%C5%81ukasz',
  })
  const authRequest: Record<string, string> = {}
  writeIdentityHeaders(authRequest, { ...identity, email: undefined }, 'auth-request')
  t.strictSame(
    Object.keys(authRequest).sort(),
    ['x-auth-request-groups', 'x-auth-request-preferred-username', 'x-auth-request-user'],
    'no email header without an email',
  )
})
