// Wall-clock time in IANA time zones, for the date, day_of_week and time_of_day
// criteria. Intl is slow, so each zone keeps the answer for the current minute.

export interface LocalTime {
  /** 0 = Sunday ... 6 = Saturday. */
  readonly weekday: number
  /** Seconds since local midnight. */
  readonly secondOfDay: number
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 }

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}

interface Fields {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  weekday: number
}

export class ZoneClock {
  private readonly format: Intl.DateTimeFormat
  private cachedMinute = NaN
  private cachedWeekday = 0
  private cachedMinuteOfDay = 0

  constructor(readonly zone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
  }

  fields(epochMs: number): Fields {
    const out: Record<string, number> = {}
    for (const part of this.format.formatToParts(epochMs)) {
      if (part.type === 'weekday') out.weekday = WEEKDAYS[part.value]
      else if (part.type !== 'literal') out[part.type] = Number(part.value)
    }
    return out as unknown as Fields
  }

  /** Offsets are whole minutes in every zone in use, so the answer holds for a minute. */
  local(epochMs: number): LocalTime {
    const minute = Math.floor(epochMs / 60_000)
    if (minute !== this.cachedMinute) {
      const f = this.fields(minute * 60_000)
      this.cachedMinute = minute
      this.cachedWeekday = f.weekday
      this.cachedMinuteOfDay = f.hour * 60 + f.minute
    }
    return { weekday: this.cachedWeekday, secondOfDay: this.cachedMinuteOfDay * 60 + Math.floor((epochMs - minute * 60_000) / 1000) }
  }

  /** The instant a local wall-clock time names. Offsets from half a day before and after
   *  bracket any transition; a time that occurs twice (clocks going back) is the earlier
   *  instant, and one that does not occur (clocks going forward) is read with the offset
   *  from before the change, so it lands after the gap, as a wall clock would. */
  toEpoch(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
    const wall = Date.UTC(year, month - 1, day, hour, minute, second)
    const before = this.offset(wall - 43_200_000)
    const after = this.offset(wall + 43_200_000)
    const valid = [wall - before, wall - after].filter((instant) => instant + this.offset(instant) === wall)
    return valid.length > 0 ? Math.min(...valid) : wall - before
  }

  private offset(epochMs: number): number {
    const f = this.fields(epochMs)
    return Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second) - Math.floor(epochMs / 1000) * 1000
  }
}

const clocks = new Map<string, ZoneClock>()

/** One clock per zone, shared by every criterion that names it. */
export function clockFor(zone: string): ZoneClock {
  let clock = clocks.get(zone)
  if (!clock) clocks.set(zone, (clock = new ZoneClock(zone)))
  return clock
}
