// `gatehouse serve` picks how to run: one process, or a primary with `workers` workers.
// Each path is imported only when taken, so a primary never loads the HTTP stack.

import cluster from 'node:cluster'
import { loadConfig } from '../config/load.js'

export async function serveFromCli(configPath: string): Promise<void> {
  if (cluster.isWorker) {
    const { runWorker } = await import('./worker.js')
    return runWorker(configPath)
  }
  const config = await loadConfig(configPath)
  // The demo's IdP and upstream live in one process (compile.ts warns that workers is ignored).
  if (config.workers > 1 && config.demo === undefined) {
    const { runPrimary } = await import('./primary.js')
    return runPrimary(configPath, config)
  }
  const { serveUntilSignalled } = await import('../serve.js')
  await serveUntilSignalled(configPath, { initial: config })
}
