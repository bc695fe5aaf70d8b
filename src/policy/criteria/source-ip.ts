import { describe } from '../issues.js'
import { inRange, parseIpCached, parseRange, type IpRange } from '../ip.js'
import type { CriterionDefinition } from './criterion.js'

/** An address, a CIDR range, or a list of them (IPv4 and IPv6). */
export const sourceIp: CriterionDefinition = {
  name: 'source_ip',
  needsUser: false,
  ok: 'source-ip-ok',
  fail: 'source-ip-unauthorized',
  compile(value, ctx) {
    const items = Array.isArray(value) ? value : [value]
    if (items.length === 0) return ctx.issues.add(ctx.path, 'must name at least one address or CIDR range')
    const ranges: IpRange[] = []
    items.forEach((item, i) => {
      const at = Array.isArray(value) ? `${ctx.path}[${i}]` : ctx.path
      const range = typeof item === 'string' ? parseRange(item) : undefined
      if (range) ranges.push(range)
      else if (typeof item !== 'string') ctx.issues.add(at, `must be an IP address or CIDR range, got ${describe(item)}`)
      else ctx.issues.add(at, `${JSON.stringify(item)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)`)
    })
    if (ranges.length !== items.length) return undefined
    return (k) => `(cv = ${k(parseIpCached)}(req.sourceIp)) !== undefined && (${ranges.map((range) => `${k(inRange)}(cv, ${k(range)})`).join(' || ')})`
  },
}
