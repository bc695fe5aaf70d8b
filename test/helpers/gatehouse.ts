// Starts Gatehouse from YAML text, the way an operator would write it, on 127.0.0.1:0.

import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { buildApp, type BuildOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config/load.js'
import type { Teardown } from './upstream.js'

export interface ConfigFiles {
  /** config.yaml contents. */
  config: string
  /** Extra files, relative to the config folder (policies/x.yaml, certs, ...). */
  files?: Record<string, string>
}

/** Writes a config folder to a fresh temporary directory and returns its path. */
export function writeConfigDir(files: ConfigFiles): { dir: string; configFile: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-'))
  writeFileSync(path.join(dir, 'config.yaml'), files.config)
  for (const [name, text] of Object.entries(files.files ?? {})) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    writeFileSync(path.join(dir, name), text)
  }
  return { dir, configFile: path.join(dir, 'config.yaml'), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** `writeConfigDir` for one test: removed when the test ends. */
export function configDir(t: Teardown, files: ConfigFiles): ReturnType<typeof writeConfigDir> {
  const written = writeConfigDir(files)
  t.teardown(written.cleanup)
  return written
}

/** One route item open to anyone, for a `routes:` list; `extra` is more of its keys,
 *  each line indented by four spaces and ending in a newline. */
export const publicRoute = (from: string, to: string, extra = '') => `  - from: ${from}\n    to: ${to}\n    allow_public_unauthenticated_access: true\n${extra}`

export interface RunningGatehouse {
  app: FastifyInstance
  port: number
  /** http://127.0.0.1:PORT */
  url: string
  /** Log lines written while running (JSON objects). */
  logs: Record<string, unknown>[]
  close(): Promise<void>
}

/** Loads a config from YAML (through the same loader `serve` uses) and listens on port 0.
 *  The config's own `address` is ignored. */
export async function startGatehouse(
  files: ConfigFiles | string,
  env: Record<string, string> = {},
  options: Omit<BuildOptions, 'logger'> & { readonly port?: number } = {},
): Promise<RunningGatehouse> {
  const written = writeConfigDir(typeof files === 'string' ? { config: files } : files)
  const logs: Record<string, unknown>[] = []
  let app: Awaited<ReturnType<typeof buildApp>> | undefined
  try {
    const config = await loadConfig(written.configFile, { env: { ...process.env, ...env } })
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
    app = await buildApp(config, { ...options, logger })
    await app.listen({ host: '127.0.0.1', port: options.port ?? 0 })
  } catch (err) {
    await app?.close()
    written.cleanup()
    throw err
  }
  const port = (app.server.address() as AddressInfo).port
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    close: async () => {
      await app.close()
      written.cleanup()
    },
  }
}

/** `startGatehouse` for one test: closed when the test ends. */
export async function gatehouse(
  t: Teardown,
  files: ConfigFiles | string,
  env: Record<string, string> = {},
  options: Omit<BuildOptions, 'logger'> = {},
): Promise<RunningGatehouse> {
  const gh = await startGatehouse(files, env, options)
  t.teardown(() => gh.close())
  return gh
}
