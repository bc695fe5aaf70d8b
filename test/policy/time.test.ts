// date, day_of_week and time_of_day: boundaries (after inclusive, before exclusive), time
// zones whose day or hour differs from UTC, windows that wrap past midnight, and days
// around daylight-saving changes. 2026-01-05 is a Monday.

import t from 'tap'
import { runTable, type Row } from './helpers.js'

/** A row for `criterion` (YAML flow text) at the instant `iso`. */
function at(criterion: string, iso: string, matches: boolean, ok: string, fail: string): Row {
  return {
    name: `${criterion} at ${iso}`,
    policy: `allow: {or: [{${criterion}}]}`,
    req: { time: Date.parse(iso) },
    verdict: matches ? 'allow' : 'deny',
    reasons: [matches ? ok : fail],
  }
}
const tod = (c: string, iso: string, matches: boolean) => at(`time_of_day: ${c}`, iso, matches, 'time-of-day-ok', 'time-of-day-unauthorized')
const dow = (c: string, iso: string, matches: boolean) => at(`day_of_week: ${c}`, iso, matches, 'day-of-week-ok', 'day-of-week-unauthorized')
/** ZoneClock.toEpoch reads the offset at the wall time taken as UTC; east of UTC that
 *  instant lies after the real one, so times just before a change get the new offset. */
const date = (c: string, iso: string, matches: boolean) => at(`date: ${c}`, iso, matches, 'date-ok', 'date-unauthorized')

t.test('time_of_day', async (t) => {
  const night = '{after: "22:00", before: "06:00", timezone: Europe/Berlin}'
  const office = '{after: "09:00", before: "17:00", timezone: America/New_York}'
  runTable(t, [
    // A window that wraps past midnight, in winter (UTC+1) and summer (UTC+2).
    tod(night, '2026-01-05T20:59:59Z', false),
    tod(night, '2026-01-05T21:00:00Z', true),
    tod(night, '2026-01-05T23:30:00Z', true),
    tod(night, '2026-01-06T04:59:59Z', true),
    tod(night, '2026-01-06T05:00:00Z', false),
    tod(night, '2026-01-06T12:00:00Z', false),
    tod(night, '2026-07-01T19:59:59Z', false),
    tod(night, '2026-07-01T20:00:00Z', true),
    tod(night, '2026-07-02T03:59:59Z', true),
    tod(night, '2026-07-02T04:00:00Z', false),
    // An ordinary window, west of UTC, with DST.
    tod(office, '2026-01-05T13:59:59Z', false),
    tod(office, '2026-01-05T14:00:00Z', true),
    tod(office, '2026-01-05T21:59:59Z', true),
    tod(office, '2026-01-05T22:00:00Z', false),
    tod(office, '2026-07-06T12:59:59Z', false),
    tod(office, '2026-07-06T13:00:00Z', true),
    tod(office, '2026-07-06T20:59:59Z', true),
    tod(office, '2026-07-06T21:00:00Z', false),
    // Only after (to midnight), with seconds.
    tod('{after: "17:30:15", timezone: UTC}', '2026-01-05T17:30:14Z', false),
    tod('{after: "17:30:15", timezone: UTC}', '2026-01-05T17:30:15Z', true),
    tod('{after: "17:30:15", timezone: UTC}', '2026-01-05T23:59:59Z', true),
    tod('{after: "17:30:15", timezone: UTC}', '2026-01-06T00:00:00Z', false),
    // Only before (from midnight), in a zone where the local day starts at 15:00 UTC.
    tod('{before: "01:00", timezone: Asia/Tokyo}', '2026-01-05T14:59:59Z', false),
    tod('{before: "01:00", timezone: Asia/Tokyo}', '2026-01-05T15:00:00Z', true),
    tod('{before: "01:00", timezone: Asia/Tokyo}', '2026-01-05T15:59:59Z', true),
    tod('{before: "01:00", timezone: Asia/Tokyo}', '2026-01-05T16:00:00Z', false),
    // Zones offset by half and quarter hours.
    tod('{after: "09:00", before: "09:30", timezone: Asia/Kolkata}', '2026-01-05T03:29:59Z', false),
    tod('{after: "09:00", before: "09:30", timezone: Asia/Kolkata}', '2026-01-05T03:30:00Z', true),
    tod('{after: "09:00", before: "09:30", timezone: Asia/Kolkata}', '2026-01-05T03:59:59Z', true),
    tod('{after: "09:00", before: "09:30", timezone: Asia/Kolkata}', '2026-01-05T04:00:00Z', false),
    tod('{after: "00:00", before: "00:15", timezone: Asia/Kathmandu}', '2026-01-05T18:14:59Z', false),
    tod('{after: "00:00", before: "00:15", timezone: Asia/Kathmandu}', '2026-01-05T18:15:00Z', true),
    tod('{after: "00:00", before: "00:15", timezone: Asia/Kathmandu}', '2026-01-05T18:29:59Z', true),
    tod('{after: "00:00", before: "00:15", timezone: Asia/Kathmandu}', '2026-01-05T18:30:00Z', false),
    // The night clocks spring forward in Berlin (02:00 CET becomes 03:00 CEST).
    tod('{after: "02:00", before: "04:00", timezone: Europe/Berlin}', '2026-03-29T00:59:59Z', false),
    tod('{after: "02:00", before: "04:00", timezone: Europe/Berlin}', '2026-03-29T01:00:00Z', true),
    tod('{after: "02:00", before: "04:00", timezone: Europe/Berlin}', '2026-03-29T01:59:59Z', true),
    tod('{after: "02:00", before: "04:00", timezone: Europe/Berlin}', '2026-03-29T02:00:00Z', false),
    // Single-digit hours are accepted.
    tod('{after: "9:00", before: "9:01", timezone: UTC}', '2026-01-05T09:00:30Z', true),
  ])
})

t.test('day_of_week', async (t) => {
  runTable(t, [
    // UTC by default.
    dow('mon-fri', '2026-01-05T00:00:00Z', true),
    dow('mon-fri', '2026-01-09T23:59:59Z', true),
    dow('mon-fri', '2026-01-10T00:00:00Z', false),
    dow('mon-fri', '2026-01-11T12:00:00Z', false),
    dow('"sat,sun"', '2026-01-10T12:00:00Z', true),
    dow('"sat,sun"', '2026-01-11T23:59:59Z', true),
    dow('"sat,sun"', '2026-01-12T00:00:00Z', false),
    dow('"sat, sun"', '2026-01-11T12:00:00Z', true),
    dow('wed', '2026-01-07T12:00:00Z', true),
    dow('wed', '2026-01-08T12:00:00Z', false),
    dow('Saturday', '2026-01-10T12:00:00Z', true),
    dow('MON-FRI', '2026-01-06T12:00:00Z', true),
    dow('"mon,wed-fri"', '2026-01-05T12:00:00Z', true),
    dow('"mon,wed-fri"', '2026-01-06T12:00:00Z', false),
    dow('"mon,wed-fri"', '2026-01-07T12:00:00Z', true),
    dow('"mon,wed-fri"', '2026-01-10T12:00:00Z', false),
    dow('sun-sat', '2026-01-08T12:00:00Z', true),
    // A range that wraps over the weekend.
    dow('fri-mon', '2026-01-08T23:59:59Z', false),
    dow('fri-mon', '2026-01-09T00:00:00Z', true),
    dow('fri-mon', '2026-01-10T12:00:00Z', true),
    dow('fri-mon', '2026-01-11T12:00:00Z', true),
    dow('fri-mon', '2026-01-12T23:59:59Z', true),
    dow('fri-mon', '2026-01-13T00:00:00Z', false),
    dow('fri-mon', '2026-01-14T12:00:00Z', false),
    // Zones where the local day is not the UTC day.
    dow('{days: "sat,sun", timezone: Pacific/Auckland}', '2026-01-09T12:00:00Z', true),
    dow('"sat,sun"', '2026-01-09T12:00:00Z', false),
    dow('{days: "sat,sun", timezone: Pacific/Auckland}', '2026-01-09T10:59:59Z', false),
    dow('{days: "sat,sun", timezone: Pacific/Auckland}', '2026-01-09T11:00:00Z', true),
    dow('{days: mon, timezone: America/Los_Angeles}', '2026-01-06T03:00:00Z', true),
    dow('mon', '2026-01-06T03:00:00Z', false),
    dow('{days: mon, timezone: America/Los_Angeles}', '2026-01-06T08:00:00Z', false),
    dow('{days: mon-fri, timezone: Pacific/Kiritimati}', '2026-01-09T09:59:59Z', true),
    dow('{days: mon-fri, timezone: Pacific/Kiritimati}', '2026-01-09T10:00:00Z', false),
    dow('{days: mon-fri}', '2026-01-10T00:00:00Z', false),
    dow('{days: fri-mon, timezone: Europe/Berlin}', '2026-01-08T23:00:00Z', true),
    dow('{days: fri-mon, timezone: Europe/Berlin}', '2026-01-08T22:59:59Z', false),
  ])
})

t.test('date', async (t) => {
  const day = '{after: "2026-01-05", before: "2026-01-06"}'
  const dst = '{after: "2026-03-07T12:00", before: "2026-03-09T12:00", timezone: America/New_York}'
  runTable(t, [
    // UTC by default; after inclusive, before exclusive.
    date(day, '2026-01-04T23:59:59.999Z', false),
    date(day, '2026-01-05T00:00:00.000Z', true),
    date(day, '2026-01-05T23:59:59.999Z', true),
    date(day, '2026-01-06T00:00:00.000Z', false),
    // Local dates in a zone ahead of and behind UTC.
    date('{after: "2026-01-05", timezone: Asia/Tokyo}', '2026-01-04T14:59:59.999Z', false),
    date('{after: "2026-01-05", timezone: Asia/Tokyo}', '2026-01-04T15:00:00Z', true),
    date('{before: "2026-01-05", timezone: America/Los_Angeles}', '2026-01-05T07:59:59.999Z', true),
    date('{before: "2026-01-05", timezone: America/Los_Angeles}', '2026-01-05T08:00:00Z', false),
    date('{after: "2026-01-05T00:00", timezone: Australia/Sydney}', '2026-01-04T12:59:59Z', false),
    date('{after: "2026-01-05T00:00", timezone: Australia/Sydney}', '2026-01-04T13:00:00Z', true),
    // Date-times, with and without seconds, with T or a space.
    date('{after: "2026-01-05T09:30:15"}', '2026-01-05T09:30:14.999Z', false),
    date('{after: "2026-01-05T09:30:15"}', '2026-01-05T09:30:15Z', true),
    date('{after: "2026-01-05 09:30", timezone: Europe/Berlin}', '2026-01-05T08:29:59Z', false),
    date('{after: "2026-01-05 09:30", timezone: Europe/Berlin}', '2026-01-05T08:30:00Z', true),
    // An explicit Z or offset wins over the timezone.
    date('{after: "2026-01-05T09:00:00Z", timezone: Asia/Tokyo}', '2026-01-05T08:59:59.999Z', false),
    date('{after: "2026-01-05T09:00:00Z", timezone: Asia/Tokyo}', '2026-01-05T09:00:00Z', true),
    date('{after: "2026-01-05T09:00:00+02:00", timezone: America/New_York}', '2026-01-05T06:59:59Z', false),
    date('{after: "2026-01-05T09:00:00+02:00", timezone: America/New_York}', '2026-01-05T07:00:00Z', true),
    // DST starts between after (EST, UTC-5) and before (EDT, UTC-4).
    date(dst, '2026-03-07T16:59:59Z', false),
    date(dst, '2026-03-07T17:00:00Z', true),
    date(dst, '2026-03-09T15:59:59Z', true),
    date(dst, '2026-03-09T16:00:00Z', false),
    // The same in Berlin, right next to the change: 03:00 is already CEST.
    date('{after: "2026-03-29T03:00", timezone: Europe/Berlin}', '2026-03-29T00:59:59Z', false),
    date('{after: "2026-03-29T03:00", timezone: Europe/Berlin}', '2026-03-29T01:00:00Z', true),
    // 01:30 on that night is still CET (UTC+1): 00:30Z.
    { ...date('{before: "2026-03-29T01:30", timezone: Europe/Berlin}', '2026-03-29T00:29:59Z', true) },
    date('{before: "2026-03-29T01:30", timezone: Europe/Berlin}', '2026-03-29T00:30:00Z', false),
    { ...date('{after: "2026-03-29T01:00", timezone: Europe/Berlin}', '2026-03-28T23:30:00Z', false) },
    date('{after: "2026-03-29T01:00", timezone: Europe/Berlin}', '2026-03-29T00:00:00Z', true),
    // The same in Sydney, where clocks spring forward at 02:00 AEST (UTC+10) on 4 October.
    { ...date('{after: "2026-10-04T01:30", timezone: Australia/Sydney}', '2026-10-03T15:00:00Z', false) },
    date('{after: "2026-10-04T01:30", timezone: Australia/Sydney}', '2026-10-03T15:30:00Z', true),
    // DST ends: 02:30 happens twice; the earlier (summer-time) instant counts, as
    // clock.ts documents. New York: 01:30 EDT = 05:30Z.
    date('{after: "2026-11-01T01:30", timezone: America/New_York}', '2026-11-01T05:29:59Z', false),
    date('{after: "2026-11-01T01:30", timezone: America/New_York}', '2026-11-01T05:30:00Z', true),
    // Berlin: 02:30 CEST = 00:30Z (02:30 CET would be 01:30Z).
    date('{after: "2026-10-25T02:30", timezone: Europe/Berlin}', '2026-10-25T00:29:59Z', false),
    { ...date('{after: "2026-10-25T02:30", timezone: Europe/Berlin}', '2026-10-25T00:30:00Z', true) },
    date('{after: "2026-10-25T02:30", timezone: Europe/Berlin}', '2026-10-25T01:30:00Z', true),
    // A leap day.
    date('{after: "2028-02-29", before: "2028-03-01"}', '2028-02-29T12:00:00Z', true),
  ])
})

t.test('time criteria together: business hours in Berlin', async (t) => {
  const policy =
    'allow: {and: [{day_of_week: {days: mon-fri, timezone: Europe/Berlin}}, {time_of_day: {after: "09:00", before: "17:00", timezone: Europe/Berlin}}]}'
  const row = (iso: string, verdict: 'allow' | 'deny', reasons: string[]): Row => ({
    name: iso,
    policy,
    req: { time: Date.parse(iso) },
    user: 'ann',
    verdict,
    reasons,
  })
  runTable(t, [
    row('2026-01-05T08:00:00Z', 'allow', ['day-of-week-ok', 'time-of-day-ok']),
    row('2026-01-05T07:59:59Z', 'deny', ['time-of-day-unauthorized']),
    row('2026-01-09T15:59:59Z', 'allow', ['day-of-week-ok', 'time-of-day-ok']),
    row('2026-01-10T10:00:00Z', 'deny', ['day-of-week-unauthorized']),
  ])
})
