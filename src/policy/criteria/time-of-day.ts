import { clockFor } from '../clock.js'
import { describe, isPlainObject } from '../issues.js'
import { callTest, type CriterionContext, type CriterionDefinition } from './criterion.js'
import { onlyKeys, readTimeZone } from './time-zone.js'

const CLOCK_TIME = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/

function readSecondOfDay(raw: unknown, path: string, ctx: CriterionContext): number | undefined {
  // YAML 1.2 reads 09:00 as a string; a bare number like 900 is refused.
  const m = typeof raw === 'string' ? CLOCK_TIME.exec(raw) : null
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59) {
    return ctx.issues.add(path, `must be a time of day such as "09:00" or "17:30:00", got ${describe(raw)}`)
  }
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)
}

/** `{ after: "09:00", before: "17:00", timezone: Europe/Berlin }`: after inclusive, before
 *  exclusive. When after is later than before the window wraps past midnight. */
export const timeOfDay: CriterionDefinition = {
  name: 'time_of_day',
  needsUser: false,
  ok: 'time-of-day-ok',
  fail: 'time-of-day-unauthorized',
  compile(value, ctx) {
    if (!isPlainObject(value)) return ctx.issues.add(ctx.path, `must be a mapping with after, before and timezone, got ${describe(value)}`)
    if (!onlyKeys(value, ['after', 'before', 'timezone'], ctx)) return undefined
    if (value.after === undefined && value.before === undefined) return ctx.issues.add(ctx.path, 'needs after, before, or both')
    // A time of day means nothing without a zone; guessing UTC would be wrong for most.
    const zone = readTimeZone(value.timezone, ctx, true)
    const after = value.after === undefined ? 0 : readSecondOfDay(value.after, `${ctx.path}.after`, ctx)
    const before = value.before === undefined ? 86_400 : readSecondOfDay(value.before, `${ctx.path}.before`, ctx)
    if (zone === undefined || after === undefined || before === undefined) return undefined
    if (after === before) return ctx.issues.add(ctx.path, 'after and before are equal: the window would be empty')
    const clock = clockFor(zone)
    if (after < before) {
      return callTest((input) => {
        const s = clock.local(input.request.time).secondOfDay
        return s >= after && s < before
      })
    }
    return callTest((input) => {
      const s = clock.local(input.request.time).secondOfDay
      return s >= after || s < before
    })
  },
}
