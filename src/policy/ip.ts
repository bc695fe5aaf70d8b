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

const maskOf = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0)

export interface IpRange {
  readonly v4: boolean
  /** Four 32-bit words (IPv4 uses the first only), already masked. */
  readonly network: readonly number[]
  readonly masks: readonly number[]
}

export function parseRange(text: string): IpRange | undefined {
  const [address, bitsText, extra] = text.split('/')
  if (extra !== undefined) return undefined
  const ip = parseIp(address)
  if (!ip) return undefined
  const max = ip.v4 ? 32 : 128
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN
  if (!(bits >= 0 && bits <= max)) return undefined
  const masks = ip.words.map((_, i) => maskOf(bits - 32 * i))
  return { v4: ip.v4, network: ip.words.map((w, i) => (w & masks[i]) >>> 0), masks }
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
    lastParsed = parseIp(text)
  }
  return lastParsed
}
