import { clockFor } from '../clock.js'
import { describe, isPlainObject } from '../issues.js'
import { callTest, type CriterionContext, type CriterionDefinition } from './criterion.js'
import { onlyKeys, readTimeZone } from './time-zone.js'

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
const FULL_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']

function dayNumber(text: string): number | undefined {
  const lower = text.trim().toLowerCase()
  const i = DAY_NAMES.indexOf(lower)
  if (i !== -1) return i
  const j = FULL_NAMES.indexOf(lower)
  return j === -1 ? undefined : j
}

/** `mon-fri`, `sat,sun`, `mon,wed-fri`; a range may wrap (`fri-mon`). Bit i = day i. */
function readDays(raw: unknown, path: string, ctx: CriterionContext): number | undefined {
  if (typeof raw !== 'string') return ctx.issues.add(path, `must be days such as mon-fri or sat,sun, got ${describe(raw)}`)
  let mask = 0
  for (const part of raw.split(',')) {
    const [from, to, extra] = part.split('-')
    const a = dayNumber(from)
    const b = to === undefined ? a : dayNumber(to)
    if (a === undefined || b === undefined || extra !== undefined) {
      return ctx.issues.add(path, `${JSON.stringify(part.trim())} is not a day or day range (mon, tue, ..., sun; ranges like mon-fri)`)
    }
    for (let d = a; ; d = (d + 1) % 7) {
      mask |= 1 << d
      if (d === b) break
    }
  }
  return mask
}

/** `day_of_week: mon-fri`, or `{ days: mon-fri, timezone: Europe/Berlin }` (UTC by default). */
export const dayOfWeek: CriterionDefinition = {
  name: 'day_of_week',
  needsUser: false,
  ok: 'day-of-week-ok',
  fail: 'day-of-week-unauthorized',
  compile(value, ctx) {
    let daysRaw: unknown = value
    let zoneRaw: unknown
    if (isPlainObject(value)) {
      if (!onlyKeys(value, ['days', 'timezone'], ctx)) return undefined
      daysRaw = value.days
      zoneRaw = value.timezone
      if (daysRaw === undefined) return ctx.issues.add(ctx.path, 'needs days (e.g. mon-fri)')
    }
    const days = readDays(daysRaw, isPlainObject(value) ? `${ctx.path}.days` : ctx.path, ctx)
    const zone = readTimeZone(zoneRaw, ctx, false)
    if (days === undefined || zone === undefined) return undefined
    const clock = clockFor(zone)
    return callTest((input) => (days & (1 << clock.local(input.request.time).weekday)) !== 0)
  },
}
