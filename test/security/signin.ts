// A real OIDC provider and Gatehouse signing users in through it, for the cases that
// need a session (websockets, redirects, cookies).

import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { CookieJar, signIn, waitReady } from '../helpers/browser.js'
import { request } from '../helpers/client.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'

export const newSecret = () => randomBytes(32).toString('base64')

/** An IdP whose client accepts callbacks on each of `hosts`. */
export async function provider(t: Test, hosts: string[]): Promise<TestIdp> {
  const p = await idp(t)
  p.registerClient({
    ...TEST_CLIENT,
    client_id: 'gatehouse-sec',
    redirect_uris: hosts.map((h) => `http://${h}/oauth2/callback`),
    post_logout_redirect_uris: hosts.map((h) => `http://${h}/`),
  })
  return p
}

/** The idps and session blocks of config.yaml for `p`. */
export function idpYaml(p: TestIdp, secret: string, sessionExtra = ''): string {
  return `idps:
  - id: test
    issuer: ${p.issuer}
    client_id: gatehouse-sec
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${secret}]
${sessionExtra}`
}

export async function signedInGatehouse(t: Test, yaml: string, readyHost: string, options: Parameters<typeof gatehouse>[3] = {}): Promise<RunningGatehouse> {
  const gh = await gatehouse(t, yaml, {}, options)
  await waitReady(gh.port, readyHost)
  return gh
}

/** Signs `user` in on `host`; returns the browser's cookies (the session). */
export async function session(gh: RunningGatehouse, p: TestIdp, host: string, user = 'alice'): Promise<CookieJar> {
  const { jar, callback } = await signIn(gh.port, { host, login: (url) => p.login(url, user) })
  if (callback.status !== 302 || !jar.has('_gatehouse')) throw new Error(`sign-in failed: ${callback.status} ${callback.text.slice(0, 300)}`)
  return jar
}

export { request }
