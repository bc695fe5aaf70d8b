// The demo behind `npm start`: an upstream that shows what it received and an
// in-process identity provider with demo users. Development only.

import type { Server } from 'node:http'
import type { Config } from '../config/compile.js'
import { startDemoUpstream } from './upstream.js'

export interface RunningDemo {
  /** What to tell the person trying it out. */
  readonly summary: Record<string, unknown>
  close(): Promise<void>
}

const addressText = (a: { host: string; port: number }) => `${a.host}:${a.port}`

export async function startDemo(config: Config): Promise<RunningDemo | undefined> {
  const demo = config.demo
  if (!demo) return undefined
  const closers: (() => Promise<void>)[] = []
  const summary: Record<string, unknown> = {
    open: config.routes.map((r) => `${r.origin.scheme}://${r.hostKey}${r.match.kind === 'regex' ? '' : r.match.value}`),
  }
  try {
    if (demo.idp) {
      // Loaded only for the demo: production installs never run the development IdP.
      const { startDevIdp, DEMO_USERS } = await import('./dev-idp.js')
      const issuer = `http://${addressText(demo.idp)}`
      const origins = [...new Set(config.routes.map((r) => `${r.origin.scheme}://${r.hostKey}`))]
      const clients = config.idps
        .filter((idp) => idp.issuer.replace(/\/$/, '') === issuer)
        .map((idp) => ({
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          token_endpoint_auth_method: idp.tokenEndpointAuthMethod,
          redirect_uris: origins.map((o) => `${o}/oauth2/callback`),
          post_logout_redirect_uris: origins.map((o) => `${o}/`),
        }))
      const idp = await startDevIdp({ host: demo.idp.host, port: demo.idp.port, clients })
      closers.push(idp.close)
      summary.demo_idp = idp.issuer
      summary.demo_users = DEMO_USERS.map((u) => `${u.id} (${u.groups?.length ? u.groups.join(', ') : 'no groups'})`)
    }
    if (demo.upstream) {
      const server: Server = await startDemoUpstream(demo.upstream)
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
      summary.demo_upstream = addressText(demo.upstream)
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()))
    throw err
  }
  return { summary, close: async () => void (await Promise.all(closers.map((c) => c()))) }
}
