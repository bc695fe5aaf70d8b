// The one page shell and stylesheet every Gatehouse page uses (error pages, the sign-in
// chooser, "who am I"). Callers pass a title and body HTML whose values they escaped.

import { escapeHtml } from './html.js'

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}small{color:#666}
a.idp{display:flex;align-items:center;gap:.75rem;padding:.75rem 1rem;margin:.5rem 0;border:1px solid #ccc;border-radius:6px;text-decoration:none;color:inherit}
a.idp:hover{background:#f5f5f5}img{width:24px;height:24px}dt{font-weight:600}dd{margin:0 0 .5rem}`

/** A whole HTML document; `title` is escaped here, `body` must already be. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>
`
}
