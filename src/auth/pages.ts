// The sign-in chooser and the "who am I" page: small, static HTML, every value escaped.

import type { IdpSettings } from './providers.js'
import { escapeHtml } from '../http/html.js'

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem;color:#222}
a.idp{display:flex;align-items:center;gap:.75rem;padding:.75rem 1rem;margin:.5rem 0;border:1px solid #ccc;border-radius:6px;text-decoration:none;color:inherit}
a.idp:hover{background:#f5f5f5}img{width:24px;height:24px}dt{font-weight:600}dd{margin:0 0 .5rem}`

const shell = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>
`

export function chooserPage(idps: readonly IdpSettings[], rd: string): string {
  const links = idps
    .map((idp) => {
      const href = `/.gatehouse/sign_in?idp=${encodeURIComponent(idp.id)}&rd=${encodeURIComponent(rd)}`
      const logo = idp.logoUrl ? `<img src="${escapeHtml(idp.logoUrl)}" alt="">` : ''
      return `<a class="idp" href="${escapeHtml(href)}">${logo}<span>${escapeHtml(idp.name)}</span></a>`
    })
    .join('\n')
  return shell('Sign in', `<h1>Sign in</h1>\n${links}`)
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
  if (!who.signed_in) return shell('Not signed in', '<h1>Not signed in</h1><p><a href="/.gatehouse/sign_in">Sign in</a></p>')
  const row = (k: string, v: string | undefined) => (v ? `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>` : '')
  return shell(
    'Signed in',
    `<h1>Signed in</h1><dl>${row('User', who.user)}${row('Name', who.name)}${row('Email', who.email)}${row('Groups', who.groups?.join(', '))}${row('Identity provider', who.idp)}</dl>
<p><a href="/.gatehouse/sign_out">Sign out</a></p>`,
  )
}
