// The demo behind `npm start`: an upstream that shows what it received (and serves the
// home page), and an in-process identity provider with demo users. Development only.

import type { Config } from '../config/compile.js'
import { JWKS_PATH } from '../http/endpoints.js'
import { demoAccess, isHomeRoute, localHost, type DemoAccess } from './access.js'
import { DEMO_WARNINGS, demoBanner } from './banner.js'
import type { OidcUser } from './oidc-users.js'
import { homePage } from './pages.js'
import { startDemoUpstream } from './upstream.js'

export interface RunningDemo {
  /** What to tell the person trying it out, printed before any log line. */
  readonly banner: string
  /** Who sees what, as the banner and the home page show it. */
  readonly access: DemoAccess
  /** The ephemeral-secret warnings, worded for the demo. */
  readonly warnings: typeof DEMO_WARNINGS
  close(): Promise<void>
}

const addressText = (a: { host: string; port: number }) => `${a.host}:${a.port}`

export async function startDemo(config: Config): Promise<RunningDemo | undefined> {
  const demo = config.demo
  if (!demo) return undefined
  const closers: (() => Promise<void>)[] = []
  let users: readonly OidcUser[] = []
  let issuer: string | undefined
  try {
    if (demo.idp) {
      // Loaded only for the demo: production installs never run the development IdP.
      const { startDevIdp, DEMO_USERS } = await import('./dev-idp.js')
      const wanted = `http://${addressText(demo.idp)}`
      const origins = [...new Set(config.routes.map((r) => `${r.origin.scheme}://${r.hostKey}`))]
      const clients = config.idps
        .filter((idp) => idp.issuer.replace(/\/$/, '') === wanted)
        .map((idp) => ({
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          token_endpoint_auth_method: idp.tokenEndpointAuthMethod,
          redirect_uris: origins.map((o) => `${o}/oauth2/callback`),
          post_logout_redirect_uris: origins.map((o) => `${o}/`),
        }))
      const idp = await startDevIdp({ host: demo.idp.host, port: demo.idp.port, clients })
      closers.push(idp.close)
      issuer = idp.issuer
      users = DEMO_USERS
    }
    const idpSettings = config.idps.find((idp) => issuer !== undefined && idp.issuer.replace(/\/$/, '') === issuer)
    const access = demoAccess(config, users, idpSettings, demo.upstream)
    const gatehouse = `${config.tls ? 'https' : 'http'}://${localHost(config.address)}:${config.address.port}`
    const homeRoutes = config.routes.filter((r) => isHomeRoute(r, config.address))
    const home = access.places.find((p) => p.home)
    if (demo.upstream) {
      const upstream = await startDemoUpstream({
        address: demo.upstream,
        jwksUrl: `${gatehouse}${JWKS_PATH}`,
        assertionHeader: config.identity.header,
        homeHosts: new Set(homeRoutes.map((r) => r.hostKey.toLowerCase())),
        homePage: () => homePage({ access, users, idp: issuer }),
        homeUrl: home?.urls[0],
      })
      closers.push(upstream.close)
    }
    const banner = demoBanner({ access, idp: issuer, upstream: demo.upstream && addressText(demo.upstream) })
    return { banner, access, warnings: DEMO_WARNINGS, close: async () => void (await Promise.all(closers.map((c) => c()))) }
  } catch (err) {
    await Promise.all(closers.map((c) => c()))
    throw err
  }
}
