// One worker of several (`workers` > 1): it takes its run's secrets from the primary, then
// serves as a single process would, while its primary watches the files, reloads, warns
// and serves metrics. Workers share the listening socket through node:cluster.

import { adoptRunSecrets } from '../config/run-secrets.js'
import { GatehouseError, problemLines } from '../errors.js'
import { serveUntilSignalled } from '../serve.js'
import { PrimaryChannel } from './primary-channel.js'

export async function runWorker(configPath: string): Promise<void> {
  const channel = new PrimaryChannel()
  // Before any config is loaded: the ephemeral secrets of the run must be the primary's,
  // or a session sealed here would not open on the next worker.
  adoptRunSecrets(await channel.setup())
  // A SIGHUP meant for the primary (a closed terminal signals the whole group) must not
  // end a worker, which is Node's default; the primary reloads and tells the workers.
  process.on('SIGHUP', () => {})
  let served: Awaited<ReturnType<typeof serveUntilSignalled>>
  try {
    served = await serveUntilSignalled(configPath, { watch: false, worker: { share: channel, signInLimits: channel } })
  } catch (err) {
    // The primary says it once, for every worker: this one leaves quietly.
    const message = problemLines(err).join('\n')
    channel.send({ gh: 'failed', code: err instanceof GatehouseError ? err.code : undefined, message }, () => process.exit(1))
    return
  }
  channel.serveDuties({
    reload: () => void served.reload(),
    metrics: () => served.metrics?.registry.getMetricsAsJSON() ?? Promise.resolve([]),
    stop: () => void served.close().then(() => process.exit(0)),
  })
  // Without its primary nothing would ever stop this worker, which would keep the port:
  // it drains and leaves.
  process.once('disconnect', () => void served.close().then(() => process.exit(0)))
  channel.send({ gh: 'listening' })
}
