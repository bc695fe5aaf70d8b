// The demo upstream's pages: the home page (what Gatehouse is, where to go, who sees
// what), the request page (the verified identity and the headers Gatehouse forwarded)
// and the websocket echo page. Plain HTML, every value escaped, no inline script or
// style, nothing from another origin: they work under the strict CSP the upstream sends.

import { escapeHtml as e } from '../http/html.js'
import { SEEN, rowLabel, type DemoAccess } from './access.js'
import type { OidcUser } from './oidc-users.js'
import type { Verification } from './verify.js'

/** Served at any path ending in these names, so a page under a route's prefix finds its
 *  files with a relative link. */
export const CSS_FILE = 'gatehouse-demo.css'
export const WS_SCRIPT_FILE = 'gatehouse-demo-ws.js'
export const WS_PAGE_FILE = 'ws.html'
/** The echo endpoint, relative to the websocket page. */
export const WS_ENDPOINT = 'ws'

/** What the demo upstream's pages may load: their own files and a websocket home. */
export const DEMO_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** Dark text on white and a link blue well above WCAG AA contrast; the verdict words
 *  carry the meaning, the colours only repeat it. */
export const CSS = `:root{color:#1b1b1b;background:#fff;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0}
main{max-width:62rem;margin:0 auto;padding:1.5rem}
a{color:#0b4fa8}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #0b4fa8;outline-offset:2px}
.demo{background:#fff4ce;border:1px solid #8a6d00;padding:.5rem .75rem;border-radius:4px}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #8c8c8c;padding:.3rem .6rem;text-align:left;vertical-align:top}
thead th{background:#eef2f7}
caption{text-align:left;font-weight:600;padding:.25rem 0}
td.value{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.allow{background:#e3f4e6}
.deny{background:#fbe4e4}
.sign_in{background:#fff4ce}
.identity th{background:#eef2f7}
.verified{border-left:6px solid #1e7b34;padding:.25rem .75rem;background:#e3f4e6}
.unverified{border-left:6px solid #b3261e;padding:.25rem .75rem;background:#fbe4e4}
.absent{border-left:6px solid #5c5c5c;padding:.25rem .75rem;background:#f1f1f1}
#log{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f6f6f6;border:1px solid #8c8c8c;min-height:6rem;padding:.5rem 2rem}
label{display:block;font-weight:600;margin-top:.75rem}
input[type=text]{font:inherit;padding:.3rem;width:min(30rem,90%)}
button{font:inherit;padding:.3rem .9rem;margin-top:.5rem}
`

/** The websocket echo page's script: a file of its own, since the CSP allows no inline script. */
export const WS_SCRIPT = `// Opens a websocket to the demo upstream's echo endpoint, through Gatehouse.
'use strict'
const status = document.getElementById('status')
const log = document.getElementById('log')
const form = document.getElementById('send')
const input = document.getElementById('message')
const say = (text) => {
  const item = document.createElement('li')
  item.textContent = text
  log.appendChild(item)
}
const url = new URL('${WS_ENDPOINT}', location.href)
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
const socket = new WebSocket(url)
socket.addEventListener('open', () => {
  status.textContent = 'Connected to ' + url.href
})
socket.addEventListener('message', (event) => say('received: ' + event.data))
socket.addEventListener('close', (event) => {
  status.textContent = 'Closed (code ' + event.code + '). Reload the page to connect again.'
})
socket.addEventListener('error', () => {
  status.textContent = 'The websocket failed: is the route allow_websockets, and are you signed in?'
})
form.addEventListener('submit', (event) => {
  event.preventDefault()
  if (socket.readyState !== WebSocket.OPEN || input.value === '') return
  socket.send(input.value)
  say('sent: ' + input.value)
  input.value = ''
})
`

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<link rel="stylesheet" href="${CSS_FILE}">
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`
}

/** Verdicts as a table: one row per user, one column per place. */
function accessTable(access: DemoAccess): string {
  const head = access.places.map((p) => `<th scope="col">${e(p.label)}</th>`).join('')
  const rows = access.rows
    .map((row) => {
      const cells = row.verdicts.map((v) => `<td class="${v}">${e(SEEN[v])}</td>`).join('')
      return `<tr><th scope="row">${e(rowLabel(row.user))}</th>${cells}</tr>`
    })
    .join('\n')
  return `<table>
<caption>Who sees what, from each route's policy</caption>
<thead><tr><th scope="col">Who</th>${head}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>opens: the app answers. sign in: Gatehouse sends you to the demo identity provider first. 403: you are signed in, and the policy refuses you.</p>`
}

function describeDemoUser(user: OidcUser): string {
  const groups = user.groups?.length ? `groups ${user.groups.join(', ')}` : 'no groups'
  return `<li><strong>${e(user.id)}</strong>: ${e([user.name, user.email].filter(Boolean).join(', '))}; ${e(groups)}</li>`
}

export interface HomeFacts {
  readonly access: DemoAccess
  readonly users: readonly OidcUser[]
  /** The demo identity provider's address, when the demo runs one. */
  readonly idp: string | undefined
}

export function homePage(facts: HomeFacts): string {
  const { access } = facts
  const links = access.places
    .filter((p) => !p.home)
    .map((p) => `<li><a href="${e(p.urls[0])}">${e(p.urls[0])}</a> (route ${e(p.route.id)})</li>`)
    .join('\n')
  const ws = access.websocketPage ? `<li><a href="${e(access.websocketPage)}">${e(access.websocketPage)}</a>: a websocket echo through Gatehouse</li>` : ''
  const idp = facts.idp ? ` at the demo identity provider (${e(facts.idp)})` : ''
  return layout(
    'Gatehouse demo',
    `<h1>Gatehouse demo</h1>
<p>Gatehouse is an identity-aware reverse proxy: it signs people in through an OpenID Connect identity provider and checks each route's policy.</p>
<p>Only then does it forward the request, websockets included, to the app, with a signed statement of who the user is.</p>
<p class="demo">This is the demo started by <code>npm start</code>, for trying Gatehouse out. This page comes from the demo app through a public route.</p>

<h2>Routes</h2>
<ul>
${links}
${ws}
</ul>
${accessTable(access)}

<h2>Your session</h2>
<ul>
<li><a href="/.gatehouse/sign_in?rd=/">Sign in</a></li>
<li><a href="/.gatehouse/">Who am I</a>: the user page</li>
<li><a href="/.gatehouse/sign_out">Sign out</a></li>
</ul>
<p>Each host keeps its own session, so another host asks you to sign in again.</p>

<h2>Demo users</h2>
<p>Sign in as any of them${idp}, without a password.</p>
<ul>
${facts.users.map(describeDemoUser).join('\n')}
</ul>`,
  )
}

/** The identity headers Gatehouse sets, in the order the page lists them. */
export const IDENTITY_HEADERS = ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username'] as const

export interface RequestFacts {
  readonly method: string
  readonly url: string
  /** Sorted by name. */
  readonly headers: readonly (readonly [string, string])[]
  /** Lower-case name of the header carrying the assertion. */
  readonly assertionHeader: string
  readonly verification: Verification
  readonly jwksUrl: string
  readonly homeUrl: string | undefined
}

const claimValue = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value))

function claimsTable(claims: Record<string, unknown>, caption: string): string {
  const rows = Object.entries(claims)
    .map(([name, value]) => `<tr><th scope="row">${e(name)}</th><td class="value">${e(claimValue(value))}</td></tr>`)
    .join('\n')
  return `<table>\n<caption>${e(caption)}</caption>\n<tbody>\n${rows}\n</tbody>\n</table>`
}

function verificationSection(v: Verification, header: string, jwksUrl: string): string {
  if (v.status === 'verified') {
    const exp = typeof v.claims.exp === 'number' ? `; it expires at ${new Date(v.claims.exp * 1000).toISOString()}` : ''
    return `<p class="verified"><strong>Verified.</strong> The ES256 signature matches key ${e(v.kid ?? '(no kid)')} from ${e(jwksUrl)}, and the assertion was issued for this host${e(exp)}.</p>
${claimsTable(v.claims, 'Verified claims')}`
  }
  if (v.status === 'not verified') {
    const claimed = v.claims ? claimsTable(v.claims, 'What the token claims (NOT verified: do not trust it)') : ''
    return `<p class="unverified"><strong>Not verified:</strong> ${e(v.reason)}.</p>\n${claimed}`
  }
  return `<p class="absent"><strong>No identity assertion.</strong> Nobody is signed in on this route: a public route forwards anonymous requests without ${e(header)}.</p>`
}

export function requestPage(f: RequestFacts): string {
  const identityNames = [f.assertionHeader, ...IDENTITY_HEADERS]
  const byName = new Map(f.headers)
  const identityRows = identityNames
    .map((name) => {
      const value = byName.get(name)
      return `<tr><th scope="row">${e(name)}</th><td class="value">${value === undefined ? '<em>not sent</em>' : e(value)}</td></tr>`
    })
    .join('\n')
  const otherRows = f.headers
    .filter(([name]) => !identityNames.includes(name))
    .map(([name, value]) => `<tr><th scope="row">${e(name)}</th><td class="value">${e(value)}</td></tr>`)
    .join('\n')
  const home = f.homeUrl ? `<li><a href="${e(f.homeUrl)}">The demo home page</a></li>\n` : ''
  return layout(
    'What the app received: Gatehouse demo upstream',
    `<h1>What the app received</h1>
<p class="demo">The Gatehouse demo upstream shows the request Gatehouse forwarded to it. For trying Gatehouse out only.</p>
<p><strong>${e(f.method)} ${e(f.url)}</strong></p>
<ul>
${home}<li><a href="/.gatehouse/">Who am I</a></li>
<li><a href="${WS_PAGE_FILE}">Websocket echo</a></li>
<li><a href="/.gatehouse/sign_out">Sign out</a></li>
</ul>

<h2>Who Gatehouse says you are</h2>
${verificationSection(f.verification, f.assertionHeader, f.jwksUrl)}

<h2>Identity headers</h2>
<p>Gatehouse sets these and removes any a client sends itself. ${e(f.assertionHeader)} comes with every signed-in request; the X-Forwarded ones only on routes with <code>pass_identity_headers</code>.</p>
<table class="identity">
<caption>Identity headers</caption>
<tbody>
${identityRows}
</tbody>
</table>

<h2>Other headers</h2>
<table>
<caption>Other headers</caption>
<tbody>
${otherRows}
</tbody>
</table>`,
  )
}

export function websocketPage(): string {
  return layout(
    'Websocket echo: Gatehouse demo upstream',
    `<h1>Websocket echo</h1>
<p class="demo">This page opens a websocket through Gatehouse to the demo upstream, which answers every message. The route needs <code>allow_websockets: true</code>.</p>
<p id="status" role="status">Connecting…</p>
<form id="send">
<label for="message">Message</label>
<input type="text" id="message" autocomplete="off">
<button type="submit">Send</button>
</form>
<h2>Messages</h2>
<ol id="log" aria-live="polite"></ol>
<p><a href="./">Back to what the app received</a></p>
<script src="${WS_SCRIPT_FILE}"></script>`,
  )
}
