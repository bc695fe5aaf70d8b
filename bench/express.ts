// Starts bench/express-app.ts on the contender's core as a relying party of the bench
// IdP, and signs in through it once.

import type { TestIdp } from '../test/helpers/idp.js'
import { freePort, startScript, type Placement, type Running } from './procs.js'
import { signInThrough } from './signin.js'

export async function startExpress(p: Placement, idp: TestIdp, upstreamPort: number): Promise<Running> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const client = { client_id: 'bench-express', client_secret: 'bench-express-secret' }
  await idp.registerClient({ ...client, redirect_uris: [`${base}/callback`], token_endpoint_auth_method: 'client_secret_basic' })
  const { child } = await startScript(p, p.contender, 'bench/express-app.ts', [
    String(port),
    String(upstreamPort),
    idp.issuer,
    client.client_id,
    client.client_secret,
  ])
  const cookie = await signInThrough(idp, `${base}/`)
  return { url: `${base}/`, headers: { cookie }, pids: [child.pid!] }
}
