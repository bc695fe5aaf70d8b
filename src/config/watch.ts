// Hot reload: watch config.yaml and the policies folder, and call back when something
// changed. Directories are watched rather than files, because editors often save by
// writing a new file and renaming it over the old one.

import { watch, type FSWatcher } from 'node:fs'
import path from 'node:path'
import { isRoutesFile } from './load.js'

/** Editors write in bursts (truncate, write, rename); wait for the burst to end. */
const SETTLE_MS = 150

export interface ConfigWatcher {
  close(): void
}

export function watchConfig(configFile: string, policiesDir: string | undefined, onChange: () => void): ConfigWatcher {
  const watchers: FSWatcher[] = []
  let timer: NodeJS.Timeout | undefined
  const trigger = () => {
    clearTimeout(timer)
    timer = setTimeout(onChange, SETTLE_MS)
  }
  const configDir = path.dirname(configFile)
  const configName = path.basename(configFile)
  const watchDir = (dir: string, relevant: (name: string) => boolean) => {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || relevant(name.toString())) trigger()
      })
      watcher.on('error', () => {})
      watchers.push(watcher)
    } catch {
      // A folder that does not exist yet cannot be watched; SIGHUP still reloads.
    }
  }
  const policiesIsConfigDir = policiesDir !== undefined && path.resolve(policiesDir) === configDir
  watchDir(configDir, (name) => name === configName || (policiesIsConfigDir && isRoutesFile(name)))
  if (policiesDir !== undefined && !policiesIsConfigDir) watchDir(policiesDir, isRoutesFile)
  return {
    close() {
      clearTimeout(timer)
      for (const w of watchers) w.close()
    },
  }
}
