import { clockFor } from '../clock.js'
import { describe, isPlainObject } from '../issues.js'
import type { CriterionContext, CriterionDefinition } from './criterion.js'
import { onlyKeys, readTimeZone } from './time-zone.js'

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/
const WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/

/** An instant from `2026-01-05`, `2026-01-05T09:00` (local to `zone`) or a full
 *  timestamp with Z or an offset. */
function readInstant(raw: unknown, zone: string, path: string, ctx: CriterionContext): number | undefined {
  if (typeof raw !== 'string') return ctx.issues.add(path, `must be a date or date-time such as 2026-01-05 or 2026-01-05T09:00:00Z, got ${describe(raw)}`)
  if (WITH_OFFSET.test(raw)) {
    const ms = Date.parse(raw)
    if (!Number.isNaN(ms)) return ms
  }
  const m = LOCAL.exec(raw)
  if (m) {
    const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1).map((v) => (v === undefined ? undefined : Number(v))) as number[]
    const check = new Date(Date.UTC(y, mo - 1, d, h, mi, s))
    if (check.getUTCMonth() === mo - 1 && check.getUTCDate() === d && h < 24 && mi < 60 && s < 60) {
      return clockFor(zone).toEpoch(y, mo, d, h, mi, s)
    }
  }
  return ctx.issues.add(path, `${JSON.stringify(raw)} is not a valid date or date-time (2026-01-05, 2026-01-05T09:00, 2026-01-05T09:00:00Z)`)
}

/** `after` (inclusive) and/or `before` (exclusive); local times in `timezone` (UTC by default). */
export const date: CriterionDefinition = {
  name: 'date',
  needsUser: false,
  ok: 'date-ok',
  fail: 'date-unauthorized',
  compile(value, ctx) {
    if (!isPlainObject(value)) return ctx.issues.add(ctx.path, `must be a mapping with after and/or before, got ${describe(value)}`)
    if (!onlyKeys(value, ['after', 'before', 'timezone'], ctx)) return undefined
    if (value.after === undefined && value.before === undefined) return ctx.issues.add(ctx.path, 'needs after, before, or both')
    const zone = readTimeZone(value.timezone, ctx, false)
    if (zone === undefined) return undefined
    const after = value.after === undefined ? -Infinity : readInstant(value.after, zone, `${ctx.path}.after`, ctx)
    const before = value.before === undefined ? Infinity : readInstant(value.before, zone, `${ctx.path}.before`, ctx)
    if (after === undefined || before === undefined) return undefined
    if (after >= before) return ctx.issues.add(ctx.path, 'after must be earlier than before')
    return (k) => `req.time >= ${k(after)} && req.time < ${k(before)}`
  },
}
