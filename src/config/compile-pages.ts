// `branding` and `templates_dir` become the one PageShell every page is rendered with.
// Template files are read and checked here, once: a broken layout is a load error that
// `check` reports, never a page that fails at request time.

import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { cssProblem, DEFAULT_BRANDING, layoutProblem, PageShell, type PageTemplates } from '../http/pages.js'
import type { ConfigSpec } from './spec.js'

type Issue = (key: string) => (message: string) => void

/** Reads `name` from the templates folder; undefined when the file is absent. */
function readTemplate(dir: string, name: string, issue: (message: string) => void): string | undefined {
  try {
    return readFileSync(path.join(dir, name), 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') issue(`cannot read ${name} in the templates folder: ${code ?? (err as Error).message}`)
    return undefined
  }
}

export function compilePages(spec: ConfigSpec, baseDir: string, imageUrls: readonly string[], top: Issue): PageShell {
  const branding = {
    name: spec.branding?.name ?? DEFAULT_BRANDING.name,
    logoUrl: spec.branding?.logo_url,
    primaryColor: spec.branding?.primary_color ?? DEFAULT_BRANDING.primaryColor,
    footer: spec.branding?.footer,
  }
  const templates: { -readonly [K in keyof PageTemplates]: PageTemplates[K] } = {}
  if (spec.templates_dir !== undefined) {
    const dir = path.resolve(baseDir, spec.templates_dir)
    const issue = top('templates_dir')
    let found = false
    try {
      found = statSync(dir).isDirectory()
      if (!found) issue(`${spec.templates_dir} is not a folder`)
    } catch (err) {
      issue(`the templates folder ${spec.templates_dir} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    if (found) {
      templates.layout = readTemplate(dir, 'layout.html', issue)
      templates.css = readTemplate(dir, 'style.css', issue)
      const layout = templates.layout === undefined ? undefined : layoutProblem(templates.layout)
      if (layout) issue(`layout.html: ${layout}`)
      const css = templates.css === undefined ? undefined : cssProblem(templates.css)
      if (css) issue(`style.css: ${css}`)
      if (templates.layout === undefined && templates.css === undefined)
        issue(`the templates folder ${spec.templates_dir} has neither layout.html nor style.css`)
    }
  }
  return new PageShell(branding, templates, imageUrls)
}
