// Identity headers: the one place that turns a user into header values, for upstreams
// (X-Forwarded-*) and forward-auth callers (X-Auth-Request-*) alike.
//
// Header values are bytes that must be visible ASCII: a name like "Zoë" or a control
// character would make Node refuse the whole request (or, on a raw socket, throw), and a
// comma inside a group name would read as two groups. Values are therefore
// percent-encoded (RFC 3986 style, UTF-8) wherever they hold anything but printable
// ASCII, for `%` itself, for edge whitespace, and, in group lists, for commas, so an
// upstream decodes each value (or each comma-separated group) with one decodeURIComponent.

import type { IdentityClaims } from './claims.js'

/** Printable ASCII other than `%`, with inner spaces: sent as it is. */
const PLAIN = /^[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?$/

function escapeByte(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
}

/** A header value that any HTTP stack accepts and that decodes back to `value`. */
export function encodeHeaderValue(value: string, commas = false): string {
  if (PLAIN.test(value) && !(commas && value.includes(','))) return value
  let out = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    const plain = byte >= 0x21 && byte <= 0x7e && byte !== 0x25 && !(commas && byte === 0x2c)
    out += plain ? String.fromCharCode(byte) : escapeByte(byte)
  }
  return out
}

/** Groups as one comma-separated value; a comma inside a group is encoded. */
export function encodeGroups(groups: readonly string[]): string {
  let out = ''
  for (let i = 0; i < groups.length; i++) out += (i === 0 ? '' : ',') + encodeHeaderValue(groups[i], true)
  return out
}

export type IdentityHeaderStyle = 'forwarded' | 'auth-request'

const NAMES = {
  forwarded: { user: 'x-forwarded-user', email: 'x-forwarded-email', groups: 'x-forwarded-groups', username: 'x-forwarded-preferred-username' },
  'auth-request': {
    user: 'x-auth-request-user',
    email: 'x-auth-request-email',
    groups: 'x-auth-request-groups',
    username: 'x-auth-request-preferred-username',
  },
} as const

/** Writes the identity headers of `style` into `out` (lower-case names). */
export function writeIdentityHeaders(out: Record<string, string | string[]>, identity: IdentityClaims, style: IdentityHeaderStyle): void {
  const names = NAMES[style]
  const user = encodeHeaderValue(identity.user)
  out[names.user] = user
  if (identity.email !== undefined) out[names.email] = encodeHeaderValue(identity.email)
  out[names.groups] = encodeGroups(identity.groups)
  out[names.username] = user
}
