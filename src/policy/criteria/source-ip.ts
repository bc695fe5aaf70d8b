import { describe } from '../issues.js'
import { inRange, parseIpCached, parseRange, type IpRange } from '../ip.js'
import type { CriterionDefinition } from './criterion.js'

/** An address, a CIDR range, or a list of them (IPv4 and IPv6). IPv4-mapped IPv6
 *  (`::ffff:10.0.0.0/104`) is IPv4, in the policy and in the client's address. */
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
      if (typeof item !== 'string') return ctx.issues.add(at, `must be an IP address or CIDR range, got ${describe(item)}`)
      const parsed = parseRange(item)
      if ('range' in parsed) ranges.push(parsed.range)
      else ctx.issues.add(at, parsed.problem)
    })
    if (ranges.length !== items.length) return undefined
    return (k) => `(cv = ${k(parseIpCached)}(req.sourceIp)) !== undefined && (${ranges.map((range) => `${k(inRange)}(cv, ${k(range)})`).join(' || ')})`
  },
}
