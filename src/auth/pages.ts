// The pages of signing in and out: the IdP chooser, the user page, the sign-out
// confirmation and the signed-out page. Small static HTML in the config's shell, every
// value escaped, every page with a next step.

import type { IdpSettings } from './providers.js'
import { SIGN_IN_PATH, SIGN_OUT_PATH, USER_PAGE_PATH } from '../http/endpoints.js'
import { escapeHtml } from '../http/html.js'
import type { PageShell } from '../http/pages.js'

export interface SignInOptions {
  readonly rd: string
  /** On the authenticate host: the route host's binding, carried to the IdP's sign-in. */
  readonly hb?: string
  /** `login`: the IdP is asked to authenticate again (sign in as someone else, or after
   *  signing out while the IdP session lives on). */
  readonly prompt?: 'login'
}

/** The sign-in link for one IdP (or the chooser when `idp` is undefined). */
export function signInHref(options: SignInOptions, idp?: string): string {
  const params = new URLSearchParams()
  if (idp !== undefined) params.set('idp', idp)
  params.set('rd', options.rd)
  if (options.hb !== undefined) params.set('hb', options.hb)
  if (options.prompt) params.set('prompt', options.prompt)
  return `${SIGN_IN_PATH}?${params}`
}

export function chooserPage(shell: PageShell, idps: readonly IdpSettings[], options: SignInOptions, extra = ''): string {
  const links = idps
    .map((idp) => {
      const logo = idp.logoUrl ? `<img src="${escapeHtml(idp.logoUrl)}" alt="">` : ''
      return `<li><a class="idp" href="${escapeHtml(signInHref(options, idp.id))}">${logo}<span>${escapeHtml(idp.name)}</span></a></li>`
    })
    .join('\n')
  return shell.render(
    'Sign in',
    `<h1>Sign in to ${escapeHtml(shell.branding.name)}</h1>
${idps.length > 0 ? `<p>Choose how to sign in.</p><ul class="plain">${links}</ul>` : ''}${extra}`,
  )
}

export interface WhoAmI {
  readonly signed_in: boolean
  readonly user?: string
  readonly email?: string
  readonly name?: string
  readonly groups?: readonly string[]
  readonly sub?: string
  readonly idp?: string
  /** The IdP's display name (`name`), for people. */
  readonly idp_name?: string
  /** Seconds since the epoch. */
  readonly signed_in_at?: number
  readonly expires_at?: number
  readonly claims?: Readonly<Record<string, unknown>>
}

export interface ReachableRoute {
  readonly name: string
  /** Undefined when the route has no one address to open (a wildcard host, a regex). */
  readonly url: string | undefined
}

/** "Wed, 02 Dec 2026 16:04:05 UTC (in 13 h 59 min)": readable, unambiguous, and
 *  the same on every replica. */
export function readableTime(seconds: number, now = Date.now() / 1000): string {
  const when = new Date(seconds * 1000)
  const text = when.toUTCString().replace('GMT', 'UTC')
  const delta = Math.round((seconds - now) / 60)
  const span = Math.abs(delta) >= 60 ? `${Math.floor(Math.abs(delta) / 60)} h ${Math.abs(delta) % 60} min` : `${Math.abs(delta)} min`
  const relative = delta === 0 ? 'just now' : delta > 0 ? `in ${span}` : `${span} ago`
  return `<time datetime="${when.toISOString()}">${text}</time> (${relative})`
}

const claimValue = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value))

export function userPage(shell: PageShell, who: WhoAmI, reachable: readonly ReachableRoute[]): string {
  if (!who.signed_in) {
    return shell.render(
      'Not signed in',
      `<h1>You are not signed in</h1><p>Sign in to see who you are signed in as and which applications you can reach.</p>
<div class="actions"><a class="button" href="${escapeHtml(signInHref({ rd: '/' }))}">Sign in</a></div>`,
    )
  }
  const row = (k: string, v: string | undefined) => (v ? `<tr><th scope="row">${k}</th><td>${escapeHtml(v)}</td></tr>` : '')
  const time = (k: string, v: number | undefined) => (v !== undefined ? `<tr><th scope="row">${k}</th><td>${readableTime(v)}</td></tr>` : '')
  const groups = who.groups && who.groups.length > 0 ? who.groups.join(', ') : 'no groups'
  const claims = Object.entries(who.claims ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td>${escapeHtml(claimValue(v))}</td></tr>`)
    .join('')
  const routes = reachable.map((r) => `<li>${r.url ? `<a href="${escapeHtml(r.url)}">${escapeHtml(r.name)}</a>` : escapeHtml(r.name)}</li>`).join('')
  return shell.render(
    'Your account',
    `<h1>Your account</h1>
<p>You are signed in as <strong>${escapeHtml(who.name ?? who.user ?? '')}</strong>${who.email ? ` (${escapeHtml(who.email)})` : ''}.</p>
<table><caption class="meta">Your session</caption><tbody>${row('User', who.user)}${row('Name', who.name)}${row('Email', who.email)}${row('Groups', groups)}${row('Identity provider', who.idp_name ?? who.idp)}${time('Signed in', who.signed_in_at)}${time('Session ends', who.expires_at)}</tbody></table>
<h2>Applications you can reach</h2>${routes ? `<ul>${routes}</ul>` : '<p>No application lets you in with this account.</p>'}
<h2>Claims from your identity provider</h2>
<p class="meta">What policies can match with <code>claim/NAME</code>. Tokens are never shown.</p>
<table><tbody>${claims || '<tr><td>No claims</td></tr>'}</tbody></table>
<div class="actions"><a class="button" href="${SIGN_OUT_PATH}">Sign out</a></div>`,
  )
}

/** Shown to a sign-out request another site made: the user confirms with a POST. */
export function signOutConfirmationPage(shell: PageShell, rd: string): string {
  const action = `${SIGN_OUT_PATH}?rd=${encodeURIComponent(rd)}`
  return shell.render(
    'Sign out?',
    `<h1>Sign out?</h1><p>Another site asked to sign you out of ${escapeHtml(shell.branding.name)}.</p>
<form method="post" action="${escapeHtml(action)}" class="actions"><button type="submit">Sign out</button><a class="button secondary" href="${escapeHtml(rd)}">Stay signed in</a></form>`,
  )
}

export interface SignedOut {
  /** The IdP the session came from, when known. */
  readonly idpName: string | undefined
  /** The IdP confirmed its own session ended too (it sent the browser back here). */
  readonly idpEnded: boolean
  /** Where signing in again leads. */
  readonly rd: string
}

export function signedOutPage(shell: PageShell, s: SignedOut): string {
  const idp = s.idpName === undefined ? 'your identity provider' : escapeHtml(s.idpName)
  const status = s.idpEnded
    ? `<p>Your session at ${idp} was ended too.</p>`
    : `<div class="note" role="note"><p>You may still be signed in at ${idp}. The next sign-in here asks you to sign in there again; to end that session as well, sign out at ${idp} or close the browser.</p></div>`
  return shell.render(
    'Signed out',
    `<h1>You are signed out</h1><p>Your ${escapeHtml(shell.branding.name)} session has ended on every application it opened.</p>${status}
<div class="actions"><a class="button" href="${escapeHtml(signInHref({ rd: s.rd, prompt: 'login' }))}">Sign in again</a><a class="button secondary" href="${USER_PAGE_PATH}">Your account</a></div>`,
  )
}
