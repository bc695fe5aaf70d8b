// The development IdP for `npm start`: the demo users, signed in without a password.
// For trying Gatehouse out only; it refuses to start with NODE_ENV=production.

import { refuseInProduction } from './production.js'
import { NAMESPACED_ROLES_CLAIM, type OidcUser } from './oidc-users.js'
import { startOidcProvider, type OidcClient } from './oidc-provider.js'

/** The demo users: one per kind of access the demo policies tell apart. */
export const DEMO_USERS: readonly OidcUser[] = Object.freeze([
  {
    id: 'alice',
    email: 'alice@example.com',
    name: 'Alice Admin',
    preferred_username: 'alice',
    groups: ['admins'],
    claims: { [NAMESPACED_ROLES_CLAIM]: ['admin'] },
  },
  {
    id: 'bob',
    email: 'bob@example.com',
    name: 'Bob Developer',
    preferred_username: 'bob',
    groups: ['developers'],
    claims: { [NAMESPACED_ROLES_CLAIM]: ['developer'] },
  },
  { id: 'carol', email: 'carol@example.com', name: 'Carol Contractor', preferred_username: 'carol', groups: [] },
  { id: 'dave', email: 'dave@example.org', name: 'Dave Support', preferred_username: 'dave', groups: ['developers', 'support'] },
])

export interface DevIdpOptions {
  host: string
  port: number
  clients: OidcClient[]
  /** Default DEMO_USERS. */
  users?: OidcUser[]
  /** Host name in the issuer URL; default `host`, or 127.0.0.1 when it is a wildcard. */
  publicHost?: string
}

export interface RunningDevIdp {
  issuer: string
  close(): Promise<void>
}

export async function startDevIdp(options: DevIdpOptions): Promise<RunningDevIdp> {
  refuseInProduction('the development IdP signs anyone in without a password; configure a real IdP under idps:')
  const idp = await startOidcProvider({
    host: options.host,
    port: options.port,
    publicHost: options.publicHost,
    clients: options.clients,
    users: options.users ?? DEMO_USERS.map((u) => structuredClone(u)),
    pkce: 'optional',
    label: 'DEMO',
    title: 'Gatehouse demo identity provider',
    notice: 'DEMO ONLY: anyone can sign in as any of these users, without a password. Never use this in production.',
    cookiePrefix: '_gatehouse_devidp',
  })
  return { issuer: idp.issuer, close: idp.close }
}
