// Printing: the table of contenders, the websocket table, and Gatehouse's ratios with
// their targets.

import type { Sample } from './load.js'
import type { WsResult } from './websocket.js'

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => n.toFixed(2)
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

export function statusText(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([code, n]) => `${code}:${n}`)
    .join(' ')
}

export function sumStatuses(samples: readonly Sample[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of samples) for (const [code, n] of Object.entries(s.statuses)) out[code] = (out[code] ?? 0) + n
  return out
}

export interface HttpRow {
  name: string
  samples: Sample[]
  rss: number[]
}

export function printHttpTable(rows: readonly HttpRow[]): void {
  const w = Math.max(9, ...rows.map((r) => r.name.length)) + 2
  console.log(
    `  ${'contender'.padEnd(w)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'RSS MiB'.padStart(9)}${'errors'.padStart(8)}  statuses (all rounds)`,
  )
  for (const r of rows) {
    const s = r.samples
    const statuses = sumStatuses(s)
    const other = Object.entries(statuses).some(([code, n]) => code !== '200' && n > 0)
    console.log(
      `  ${r.name.padEnd(w)}${int(median(s.map((x) => x.rps))).padStart(9)}${ms(median(s.map((x) => x.p50))).padStart(9)}${ms(median(s.map((x) => x.p99))).padStart(9)}` +
        `${mib(Math.max(...r.rss)).padStart(9)}${String(s.reduce((a, x) => a + x.errors, 0)).padStart(8)}  ${statusText(statuses)}${other ? '  <- not all 200' : ''}`,
    )
  }
}

export interface WsRow {
  name: string
  streaming: WsResult[]
  pingPong: WsResult[]
  rss: number[]
}

export function printWsTable(rows: readonly WsRow[]): void {
  const w = Math.max(9, ...rows.map((r) => r.name.length)) + 2
  console.log(
    `  ${'path'.padEnd(w)}${'stream msg/s'.padStart(13)}${'ping-pong/s'.padStart(13)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'RSS MiB'.padStart(9)}${'errors'.padStart(8)}`,
  )
  for (const r of rows) {
    const errors = [...r.streaming, ...r.pingPong].reduce((a, x) => a + x.errors, 0)
    console.log(
      `  ${r.name.padEnd(w)}${int(median(r.streaming.map((x) => x.rate))).padStart(13)}${int(median(r.pingPong.map((x) => x.rate))).padStart(13)}` +
        `${ms(median(r.pingPong.map((x) => x.p50))).padStart(9)}${ms(median(r.pingPong.map((x) => x.p99))).padStart(9)}${mib(Math.max(...r.rss)).padStart(9)}${String(errors).padStart(8)}`,
    )
  }
}

export interface Ratio {
  label: string
  /** Per-round ratios of the measure (Gatehouse / the other). */
  values: number[]
  /** Met when the median is at least this. */
  min?: number
  /** A second condition: per-round ratios of p99 (Gatehouse / the other), at most `max`. */
  p99?: { values: number[]; max: number }
  /** Shown after the ratio. */
  note?: string
}

/** One line per ratio: median of the per-round ratios, their range, the target and
 *  whether the median meets it. Returns how many targets were met, of how many. */
export function printRatios(ratios: readonly Ratio[]): { met: number; of: number } {
  let met = 0
  let of = 0
  const w = Math.max(...ratios.map((r) => r.label.length)) + 2
  for (const r of ratios) {
    const m = median(r.values)
    const range = r.values.length > 1 ? ` [${Math.min(...r.values).toFixed(2)}-${Math.max(...r.values).toFixed(2)}]` : ''
    let line = `  ${r.label.padEnd(w)}${m.toFixed(2)}x${range}`
    if (r.min !== undefined) {
      let ok = m >= r.min
      line += `  target >= ${r.min}x`
      if (r.p99) {
        const p = median(r.p99.values)
        const pOk = p <= r.p99.max
        line += `, p99 ${p.toFixed(2)}x (target <= ${r.p99.max.toFixed(1)}x)`
        ok &&= pOk
      }
      line += ok ? '  met' : '  NOT MET'
      of++
      if (ok) met++
    }
    if (r.note) line += `  (${r.note})`
    console.log(line)
  }
  return { met, of }
}
