// Route lookups with 10 and with 10,000 routes: the cost should not grow with the count.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../src/config/load.js'
import { RouteTable } from '../src/routes/table.js'

async function tableOf(count: number): Promise<{ table: RouteTable; compileMs: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'))
  mkdirSync(path.join(dir, 'policies'))
  let yaml = 'routes:\n'
  for (let i = 0; i < count; i++) {
    // Hosts, prefixes of several lengths, and some exact paths.
    yaml += `  - from: https://app${i % 1000}.example.com\n    to: http://127.0.0.1:9\n    prefix: /svc${i}/${'x'.repeat(i % 7)}\n`
  }
  writeFileSync(path.join(dir, 'config.yaml'), '')
  writeFileSync(path.join(dir, 'policies', 'routes.yaml'), yaml)
  const started = performance.now()
  const config = await loadConfig(path.join(dir, 'config.yaml'))
  const table = new RouteTable(config.routes)
  const compileMs = performance.now() - started
  rmSync(dir, { recursive: true })
  return { table, compileMs }
}

function lookupsPerSecond(table: RouteTable, count: number): number {
  const hosts = Array.from({ length: 64 }, (_, i) => `app${(i * 7) % Math.min(count, 1000)}.example.com`)
  const paths = Array.from({ length: 64 }, (_, i) => `/svc${(i * 13) % count}/xxxxxx/some/deeper/path`)
  let found = 0
  const n = 2_000_000
  const started = performance.now()
  for (let i = 0; i < n; i++) if (table.find(hosts[i & 63], undefined, paths[(i >> 6) & 63])) found++
  const seconds = (performance.now() - started) / 1000
  if (found < 0) console.log(found)
  return n / seconds
}

export async function benchRouteTable(): Promise<string> {
  const lines: string[] = []
  const results: Record<number, number> = {}
  for (const count of [10, 10_000]) {
    const { table, compileMs } = await tableOf(count)
    lookupsPerSecond(table, count) // warm up
    results[count] = lookupsPerSecond(table, count)
    lines.push(`  ${String(count).padStart(6)} routes: ${(results[count] / 1e6).toFixed(2)} M lookups/s (load + compile ${compileMs.toFixed(0)} ms)`)
  }
  lines.push(`  10,000 routes cost ${(results[10] / results[10_000]).toFixed(2)}x what 10 cost per lookup`)
  return lines.join('\n')
}
