// The sign-in chooser and the "who am I" page: small, static HTML, every value escaped.

import type { IdpSettings } from './providers.js'
import { escapeHtml } from '../http/html.js'
import { page } from '../http/pages.js'

export function chooserPage(idps: readonly IdpSettings[], rd: string): string {
  const links = idps
    .map((idp) => {
      const href = `/.gatehouse/sign_in?idp=${encodeURIComponent(idp.id)}&rd=${encodeURIComponent(rd)}`
      const logo = idp.logoUrl ? `<img src="${escapeHtml(idp.logoUrl)}" alt="">` : ''
      return `<a class="idp" href="${escapeHtml(href)}">${logo}<span>${escapeHtml(idp.name)}</span></a>`
    })
    .join('\n')
  return page('Sign in', `<h1>Sign in</h1>\n${links}`)
}

export interface WhoAmI {
  signed_in: boolean
  user?: string
  email?: string
  name?: string
  groups?: readonly string[]
  idp?: string
}

export function userPage(who: WhoAmI): string {
  if (!who.signed_in) return page('Not signed in', '<h1>Not signed in</h1><p><a href="/.gatehouse/sign_in">Sign in</a></p>')
  const row = (k: string, v: string | undefined) => (v ? `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>` : '')
  return page(
    'Signed in',
    `<h1>Signed in</h1><dl>${row('User', who.user)}${row('Name', who.name)}${row('Email', who.email)}${row('Groups', who.groups?.join(', '))}${row('Identity provider', who.idp)}</dl>
<p><a href="/.gatehouse/sign_out">Sign out</a></p>`,
  )
}

/** Shown to a sign-out request another site made: the user confirms with a POST. */
export function signOutConfirmationPage(rd: string): string {
  const action = `/.gatehouse/sign_out?rd=${encodeURIComponent(rd)}`
  return page(
    'Sign out?',
    `<h1>Sign out?</h1><p>Another site asked to sign you out.</p>
<form method="post" action="${escapeHtml(action)}"><button type="submit">Sign out</button></form>
<p><a href="${escapeHtml(rd)}">Stay signed in</a></p>`,
  )
}
