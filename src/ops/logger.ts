// How Gatehouse's pino logger is set up: `log_format: json` is pino's own line, exactly as
// fastify writes it by default (collectors parse it); `log_format: pretty` turns each of
// those lines into one line a person can read at a terminal:
//
//   09:14:03.120 INFO  signed in idp=demo user=alice sid=Qm9i… request_id=5b0c…
//
// The formatter is ours (about fifty lines) rather than pino-pretty: nothing more to
// install, no worker thread (pino transports run one), and it writes through the same
// process.stdout as the demo's banner, so the two stay in order.

import type { Config } from '../config/compile.js'

/** pino's numeric levels, by name as printed. */
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

/** ANSI colours for the level word on a terminal (NO_COLOR turns them off). */
const COLORS: Record<number, string> = { 10: '\x1b[90m', 20: '\x1b[90m', 30: '\x1b[32m', 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[35m' }

/** Fields every line carries that say nothing about the event (pid, hostname), or that
 *  the line shows in its own place (time, level, msg). */
const SHOWN_APART = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v'])

/** A value printed bare when it is a plain token; quoted (JSON) when it holds spaces,
 *  quotes, `=` or nothing, so every `key=value` pair reads back unambiguously. */
function token(value: string): string {
  return /^[^\s"'=\\]+$/.test(value) ? value : JSON.stringify(value)
}

function pairs(prefix: string, value: unknown, out: string[]): void {
  if (value === undefined) return
  if (value === null || typeof value !== 'object') {
    out.push(`${prefix}=${typeof value === 'string' ? token(value) : String(value)}`)
  } else if (Array.isArray(value)) {
    // Lists of plain words (groups, settings) read best as a,b,c; anything else as JSON.
    const plain = value.every((v) => typeof v === 'string' && /^[^\s"'=\\,[\]]+$/.test(v))
    out.push(`${prefix}=${plain && value.length > 0 ? value.join(',') : JSON.stringify(value)}`)
  } else {
    // Nested objects (err, req) flatten to err.code=... err.message=...
    for (const [key, inner] of Object.entries(value)) {
      // pino's error serializer dresses a plain { message } as an error with type
      // "Object" and an empty stack: noise for a reader, so left out here (json keeps it).
      if (prefix === 'err' && ((key === 'type' && inner === 'Object') || (key === 'stack' && inner === ''))) continue
      pairs(`${prefix}.${key}`, inner, out)
    }
  }
}

const two = (n: number) => String(n).padStart(2, '0')

/** Local wall-clock time, to the millisecond: what someone watching the terminal compares with. */
function clock(ms: number): string {
  const d = new Date(ms)
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

/** One pino JSON line as one readable line (without the newline): time, level, message,
 *  then key=value for every field, request_id last. A line that is not JSON is kept. */
export function prettyLine(json: string, options: { color?: boolean } = {}): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json.trimEnd()
  }
  const level = typeof entry.level === 'number' ? entry.level : 30
  const word = (LEVELS[level] ?? String(entry.level)).padEnd(5)
  const head = [
    typeof entry.time === 'number' ? clock(entry.time) : '',
    options.color && COLORS[level] ? `${COLORS[level]}${word}\x1b[0m` : word,
    typeof entry.msg === 'string' ? entry.msg : '',
  ]
  const fields: string[] = []
  for (const [key, value] of Object.entries(entry)) if (!SHOWN_APART.has(key) && key !== 'request_id') pairs(key, value, fields)
  if (entry.request_id !== undefined) pairs('request_id', entry.request_id, fields)
  return [...head, ...fields].filter((part) => part !== '').join(' ')
}

/** What pino writes to: each JSON line reformatted, then written to `out`. */
export interface LineWriter {
  write(text: string): unknown
  isTTY?: boolean
}

/** A pino destination that writes pretty lines to `out` (stdout by default). */
export function prettyDestination(out: LineWriter = process.stdout): { write(chunk: string): void } {
  const color = out.isTTY === true && !process.env.NO_COLOR
  return {
    write(chunk: string) {
      // pino hands over one line per call, but a chunk may hold several.
      let text = ''
      for (const line of chunk.split('\n')) if (line !== '') text += `${prettyLine(line, { color })}\n`
      out.write(text)
    },
  }
}

/** fastify's `logger` option for this config. json passes no stream, so fastify builds
 *  exactly the logger (and the lines) it always has. */
export function loggerOptions(config: Pick<Config, 'logLevel' | 'logFormat'>, out?: LineWriter): { level: string; stream?: { write(chunk: string): void } } {
  if (config.logFormat === 'pretty') return { level: config.logLevel, stream: prettyDestination(out) }
  return { level: config.logLevel }
}
