import { isTimeZone } from '../clock.js'
import { describe } from '../issues.js'
import type { CriterionContext } from './criterion.js'

/** Reads the `timezone` key of a time criterion; undefined after reporting a problem. */
export function readTimeZone(raw: unknown, ctx: CriterionContext, required: boolean): string | undefined {
  if (raw === undefined) {
    if (required) return ctx.issues.add(ctx.path, 'needs a timezone (an IANA name such as Europe/Berlin or UTC)')
    return 'UTC'
  }
  if (typeof raw !== 'string') return ctx.issues.add(`${ctx.path}.timezone`, `must be an IANA time zone name, got ${describe(raw)}`)
  if (!isTimeZone(raw)) return ctx.issues.add(`${ctx.path}.timezone`, `unknown time zone ${JSON.stringify(raw)} (use an IANA name such as Europe/Berlin)`)
  return raw
}

/** Checks that a criterion's mapping has only the keys it knows. */
export function onlyKeys(value: Record<string, unknown>, keys: readonly string[], ctx: CriterionContext): boolean {
  let ok = true
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      ctx.issues.addAtKey(`${ctx.path}.${key}`, `unknown key; expected ${keys.join(', ')}`)
      ok = false
    }
  }
  return ok
}
