// What `npm start` prints before any log line: where to go, who the demo users are and
// what each one will see on each route, and how to stop. Then the warnings about
// ephemeral secrets, worded for someone trying the demo, who has nothing to do about them.

import { SEEN, rowLabel, type DemoAccess } from './access.js'

export interface BannerFacts {
  readonly access: DemoAccess
  /** The demo identity provider's issuer, when the demo runs one. */
  readonly idp: string | undefined
  /** The demo upstream's address, when the demo runs one. */
  readonly upstream: string | undefined
}

function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => `  ${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')}`.trimEnd())
}

export function demoBanner(facts: BannerFacts): string {
  const { access } = facts
  const home = access.places.find((p) => p.home)
  const lines = ['', 'Gatehouse demo: for trying Gatehouse out on this machine, never for production.', '']
  if (home) {
    const others = home.urls.slice(1)
    lines.push(`Open ${home.urls[0]} : the demo home page${others.length ? ` (${others.join(', ')} works too)` : ''}.`, '')
  }
  const routes = access.places.filter((p) => !p.home)
  if (routes.length > 0) {
    lines.push('Routes (browsers send *.localhost to this machine):')
    const rows = routes.map((p) => [p.label, p.urls[0], `route ${p.route.id}`])
    if (access.websocketPage) rows.push(['websocket', access.websocketPage, 'an echo through Gatehouse'])
    lines.push(...columns(rows), '')
  }
  if (access.rows.length > 1) {
    lines.push("Demo users, and what each one sees on each route (from the routes' policies):")
    lines.push(...columns([['', ...access.places.map((p) => p.label)], ...access.rows.map((r) => [rowLabel(r.user), ...r.verdicts.map((v) => SEEN[v])])]))
    lines.push("  opens: the app answers; sign in: asked to sign in first; 403: refused by the route's policy.")
    if (facts.idp) lines.push(`Sign in as any of them at the demo identity provider, ${facts.idp}, without a password.`)
    lines.push('')
  }
  if (facts.upstream) lines.push(`The demo app (${facts.upstream}) shows the identity Gatehouse forwarded, verified against its JWKS.`, '')
  lines.push('Stop with Ctrl+C.', '')
  return `${lines.join('\n')}\n`
}

/** The ephemeral-secret warnings as the demo words them: the person trying it out cannot
 *  act on them, so they say what happens and what production does instead. */
export const DEMO_WARNINGS = Object.freeze({
  sessionSecrets:
    'demo: sessions are encrypted with a secret made for this run only, so stopping the demo signs everyone out. Nothing to do for the demo; a production config sets session.secrets (gatehouse keys makes one)',
  signingKey:
    'demo: identity assertions are signed with a key made for this run only; the demo app fetches it from the JWKS. Nothing to do for the demo; a production config sets identity.signing_key_file (gatehouse keys makes one)',
})
