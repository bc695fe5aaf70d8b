// IP addresses and CIDR ranges as numbers, for source_ip. (node:net's BlockList costs
// microseconds per check; this costs nanoseconds.)

import { isIPv4, isIPv6 } from 'node:net'

/** IPv4 as one unsigned 32-bit word; IPv6 as four. One shape for both keeps the
 *  matching loop monomorphic. */
export interface ParsedIp {
  readonly v4: boolean
  readonly words: readonly number[]
}

function parseV4(text: string): number {
  let out = 0
  for (const part of text.split('.')) out = out * 256 + Number(part)
  return out >>> 0
}

function parseV6(text: string): [number, number, number, number] {
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    const v4 = parseV4(text.slice(lastColon + 1))
    tail = [v4 >>> 16, v4 & 0xffff]
    text = text.slice(0, lastColon + 1) + (text.endsWith('::') ? '' : '0')
    if (!text.endsWith('::')) text = text.slice(0, -1).replace(/:$/, '')
  }
  const [head, rest] = text.split('::')
  const left = head ? head.split(':').map((h) => parseInt(h, 16)) : []
  const right = rest === undefined ? [] : rest ? rest.split(':').map((h) => parseInt(h, 16)) : []
  const fill = 8 - tail.length - left.length - right.length
  const groups = [...left, ...new Array(rest === undefined ? 0 : fill).fill(0), ...right, ...tail]
  const out: [number, number, number, number] = [0, 0, 0, 0]
  for (let i = 0; i < 4; i++) out[i] = ((groups[2 * i] << 16) | groups[2 * i + 1]) >>> 0
  return out
}

export function parseIp(text: string): ParsedIp | undefined {
  if (isIPv4(text)) return { v4: true, words: [parseV4(text)] }
  if (isIPv6(text)) return { v4: false, words: parseV6(text) }
  return undefined
}

/** `::ffff:a.b.c.d` (::ffff:0:0/96): an IPv4 address written in IPv6 form. */
const isMapped = (ip: ParsedIp): boolean => !ip.v4 && ip.words[0] === 0 && ip.words[1] === 0 && ip.words[2] === 0xffff

/** A client address as the address it stands for: a dual-stack socket reports IPv4
 *  clients as `::ffff:a.b.c.d`, and they must meet the IPv4 ranges written for them. */
function parseClientIp(text: string): ParsedIp | undefined {
  const ip = parseIp(text)
  return ip && isMapped(ip) ? { v4: true, words: [ip.words[3]] } : ip
}

const maskOf = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0)

export interface IpRange {
  readonly v4: boolean
  /** Four 32-bit words (IPv4 uses the first only), already masked. */
  readonly network: readonly number[]
  readonly masks: readonly number[]
}

function toRange(ip: ParsedIp, bits: number): IpRange {
  const masks = ip.words.map((_, i) => maskOf(bits - 32 * i))
  return { v4: ip.v4, network: ip.words.map((w, i) => (w & masks[i]) >>> 0), masks }
}

/** A range as written, or why it is refused. */
export type ParsedRange = { readonly range: IpRange } | { readonly problem: string }

/**
 * An address or CIDR range. An IPv4-mapped range (`::ffff:10.0.0.0/104`) becomes the
 * IPv4 range it stands for (`10.0.0.0/8`), since clients are judged as IPv4: written the
 * mapped way, a deny rule would otherwise never match and fail open. A mapped range
 * shorter than /96 would also take in IPv6 addresses that are not IPv4 at all, so it is
 * refused rather than guessed at.
 */
export function parseRange(text: string): ParsedRange {
  const notARange = { problem: `${JSON.stringify(text)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)` }
  const [address, bitsText, extra] = text.split('/')
  if (extra !== undefined) return notARange
  const ip = parseIp(address)
  if (!ip) return notARange
  const max = ip.v4 ? 32 : 128
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN
  if (!(bits >= 0 && bits <= max)) return notARange
  if (!isMapped(ip)) return { range: toRange(ip, bits) }
  if (bits < 96) {
    return {
      problem: `${JSON.stringify(text)} is an IPv4-mapped range shorter than /96, so it would also take in IPv6 addresses that are not IPv4; write it as an IPv4 range (::ffff:10.0.0.0/104 is 10.0.0.0/8)`,
    }
  }
  return { range: toRange({ v4: true, words: [ip.words[3]] }, bits - 96) }
}

export function inRange(ip: ParsedIp, range: IpRange): boolean {
  if (ip.v4 !== range.v4) return false
  const { words } = ip
  for (let i = 0; i < words.length; i++) if ((words[i] & range.masks[i]) >>> 0 !== range.network[i]) return false
  return true
}

let lastText: string | undefined
let lastParsed: ParsedIp | undefined

/** A request is judged by several source_ip criteria; parse its address once. */
export function parseIpCached(text: string): ParsedIp | undefined {
  if (text !== lastText) {
    lastText = text
    lastParsed = parseClientIp(text)
  }
  return lastParsed
}
