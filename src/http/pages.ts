// The one page shell and stylesheet every Gatehouse page uses (error pages, the sign-in
// chooser, the user page, sign-out). Built once per config from `branding` and the
// optional templates_dir, so the request path only concatenates strings.

import { createHash } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import { escapeHtml } from './html.js'

export interface Branding {
  readonly name: string
  readonly logoUrl: string | undefined
  /** A hex colour (checked at load), used for the header bar and buttons. */
  readonly primaryColor: string
  readonly footer: string | undefined
}

export const DEFAULT_BRANDING: Branding = Object.freeze({ name: 'Gatehouse', logoUrl: undefined, primaryColor: '#1f4e8c', footer: undefined })

/** What an operator's templates_dir may hold: a layout around every page, and CSS added
 *  after ours. */
export interface PageTemplates {
  readonly layout?: string
  readonly css?: string
}

/** The placeholders a layout may use; `{{head}}` and `{{content}}` are required. */
export const LAYOUT_PLACEHOLDERS = ['head', 'header', 'content', 'footer', 'title', 'brand'] as const
type Placeholder = (typeof LAYOUT_PLACEHOLDERS)[number]

const DEFAULT_LAYOUT = `<!doctype html>
<html lang="en"><head>{{head}}</head>
<body><header>{{header}}</header>
<main id="main">{{content}}</main>
<footer>{{footer}}</footer></body></html>
`

const BASE_CSS = `*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#f4f5f7}
header{background:var(--primary);color:var(--on-primary);padding:.75rem 1.25rem;display:flex;align-items:center;gap:.6rem;font-weight:600}
header img{height:28px;width:auto}
main{max-width:42rem;margin:2.5rem auto;padding:2rem;background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
footer{text-align:center;color:#4a4f57;font-size:.875rem;padding:0 1rem 2rem}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
a{color:#0b4fa8}
.button,button{display:inline-block;background:var(--primary);color:var(--on-primary);border:1px solid var(--primary);border-radius:6px;padding:.55rem 1.1rem;font:inherit;text-decoration:none;cursor:pointer}
.button.secondary,button.secondary{background:#fff;color:#1b1b1b;border-color:#767b84}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #b35c00;outline-offset:2px}
.idp{display:flex;align-items:center;gap:.75rem;width:100%;padding:.8rem 1rem;margin:.5rem 0;border:1px solid #767b84;border-radius:8px;color:inherit;text-decoration:none;background:#fff}
.idp:hover{background:#eef2f8}.idp img{width:24px;height:24px}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.5rem 0 .5rem}
.meta{color:#4a4f57;font-size:.875rem;margin-top:1.5rem}
code{background:#eef0f3;padding:.1rem .3rem;border-radius:3px;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}caption{text-align:left}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #dde1e6}
td{word-break:break-word}th{width:35%}
.said{border-left:4px solid #a4262c;background:#fdf3f2;padding:.5rem 1rem;margin:1rem 0}
.note{border-left:4px solid var(--primary);background:#f1f5fb;padding:.5rem 1rem;margin:1rem 0}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input{font:inherit;padding:.5rem;width:100%;border:1px solid #767b84;border-radius:6px}
ul.plain{list-style:none;padding:0}ul.plain li{margin:.35rem 0}`

/** Relative luminance (WCAG 2) of a #rgb or #rrggbb colour. */
function luminance(hex: string): number {
  const digits = hex.length === 4 ? [...hex.slice(1)].map((d) => d + d) : [hex.slice(1, 3), hex.slice(3, 5), hex.slice(5, 7)]
  const [r, g, b] = digits.map((d) => {
    const c = parseInt(d, 16) / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  })
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}

/** Text on the brand colour is white or near-black, whichever contrasts more, so any
 *  primary_color an operator picks stays readable (WCAG contrast). */
function textOn(hex: string): string {
  const l = luminance(hex)
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? '#111111' : '#ffffff'
}

/** A layout split at its placeholders once, at load: rendering is a join. */
type Piece = string | Placeholder

function splitLayout(layout: string): Piece[] {
  const pieces: Piece[] = []
  let last = 0
  for (const m of layout.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)) {
    pieces.push(layout.slice(last, m.index), m[1] as Placeholder)
    last = m.index! + m[0].length
  }
  pieces.push(layout.slice(last))
  return pieces
}

/** Why a layout cannot be used, or undefined. Checked at load (`check` refuses it). */
export function layoutProblem(layout: string): string | undefined {
  const used = [...layout.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].map((m) => m[1])
  const unknown = used.find((name) => !(LAYOUT_PLACEHOLDERS as readonly string[]).includes(name))
  if (unknown !== undefined) return `unknown placeholder {{${unknown}}}; the layout may use ${LAYOUT_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`
  for (const required of ['head', 'content']) if (!used.includes(required)) return `the layout must contain {{${required}}}`
  return undefined
}

/** A CSS addition must not end the <style> element it is written into. */
export function cssProblem(css: string): string | undefined {
  return /<\/?style|<\/?script|<!--/i.test(css)
    ? 'the stylesheet must not contain <style>, <script> or <!-- (it is written inside a <style> element)'
    : undefined
}

export class PageShell {
  /** Headers every page is sent with: a strict Content-Security-Policy (no scripts at
   *  all, only our own stylesheet by hash, images only from where the config points),
   *  no framing (clickjacking of the sign-out and sign-in buttons), no caching. */
  readonly headers: Readonly<Record<string, string>>
  private readonly pieces: readonly Piece[]
  private readonly fixed: Readonly<Record<'header' | 'footer' | 'brand' | 'style', string>>

  constructor(
    readonly branding: Branding = DEFAULT_BRANDING,
    templates: PageTemplates = {},
    /** Where the chooser's IdP logos come from (their origins join img-src). */
    imageUrls: readonly string[] = [],
  ) {
    const css = `:root{--primary:${branding.primaryColor};--on-primary:${textOn(branding.primaryColor)}}\n${BASE_CSS}${templates.css ? `\n${templates.css}` : ''}`
    const styleHash = createHash('sha256').update(css).digest('base64')
    const images = new Set<string>(["'self'"])
    for (const url of [branding.logoUrl, ...imageUrls]) {
      if (url !== undefined && /^https?:\/\//.test(url)) images.add(new URL(url).origin)
    }
    // form-action is left out on purpose: it also governs where a form's answer may
    // redirect, and sign-out's POST ends at the IdP, local sign-in at the application.
    const csp = `default-src 'none'; style-src 'sha256-${styleHash}'; img-src ${[...images].join(' ')}; base-uri 'none'; frame-ancestors 'none'`
    this.headers = Object.freeze({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
    })
    const brand = escapeHtml(branding.name)
    const logo = branding.logoUrl ? `<img src="${escapeHtml(branding.logoUrl)}" alt="">` : ''
    this.fixed = Object.freeze({
      brand,
      style: `<style>${css}</style>`,
      header: `${logo}<span>${brand}</span>`,
      footer: branding.footer !== undefined ? escapeHtml(branding.footer) : '',
    })
    this.pieces = Object.freeze(splitLayout(templates.layout ?? DEFAULT_LAYOUT))
  }

  /** A whole HTML document; `title` is escaped here, `content` must already be. */
  render(title: string, content: string): string {
    const values: Record<Placeholder, string> = {
      head: `<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="same-origin"><title>${escapeHtml(title)} · ${this.fixed.brand}</title>${this.fixed.style}`,
      header: this.fixed.header,
      content,
      footer: this.fixed.footer,
      title: escapeHtml(title),
      brand: this.fixed.brand,
    }
    let out = ''
    for (let i = 0; i < this.pieces.length; i++) out += i % 2 === 0 ? this.pieces[i] : values[this.pieces[i] as Placeholder]
    return out
  }

  /** Sends a rendered page through fastify with this shell's headers. */
  send(reply: FastifyReply, status: number, document: string) {
    return reply.code(status).headers(this.headers).send(document)
  }
}

/** For answers made where no config is at hand (a raw socket's, or before the app has
 *  its state). */
export const DEFAULT_SHELL = new PageShell()
