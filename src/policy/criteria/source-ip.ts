import { BlockList, isIP } from 'node:net'
import { describe } from '../issues.js'
import type { CriterionDefinition } from './criterion.js'

function addRange(list: BlockList, text: string): boolean {
  const [address, bits, extra] = text.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (bits === undefined) {
    list.addAddress(address, type)
    return true
  }
  const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN
  if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) return false
  list.addSubnet(address, prefix, type)
  return true
}

/** An address, a CIDR range, or a list of them (IPv4 and IPv6). */
export const sourceIp: CriterionDefinition = {
  name: 'source_ip',
  needsUser: false,
  ok: 'source-ip-ok',
  fail: 'source-ip-unauthorized',
  compile(value, ctx) {
    const ranges = Array.isArray(value) ? value : [value]
    if (ranges.length === 0) return ctx.issues.add(ctx.path, 'must name at least one address or CIDR range')
    const list = new BlockList()
    let ok = true
    ranges.forEach((range, i) => {
      const at = Array.isArray(value) ? `${ctx.path}[${i}]` : ctx.path
      if (typeof range !== 'string') {
        ctx.issues.add(at, `must be an IP address or CIDR range, got ${describe(range)}`)
        ok = false
      } else if (!addRange(list, range)) {
        ctx.issues.add(at, `${JSON.stringify(range)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)`)
        ok = false
      }
    })
    if (!ok) return undefined
    return (input) => {
      const ip = input.request.sourceIp
      const family = isIP(ip)
      return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
    }
  },
}
