// Debian's Chromium driven through playwright-core, for tests that need a real browser:
// real cookies, redirects, forms, websockets and page scripts, as a user's browser has them.
//
//   const browser = await chromium(t)                 // a fresh profile, closed at teardown
//   const page = await browser.newPage()
//   await page.goto(`http://app.localhost:${gh.port}/`)
//   await screenshot(page, 'app-home')                // test-artifacts/screenshots/app-home.png
//   t.same(await axe(page), [], 'no serious or critical accessibility violations')
//
// Hosts: names under `.localhost` (app.localhost, desk.localhost) resolve to loopback in
// Chromium itself, with no /etc/hosts entry or resolver flag, and Gatehouse counts them as
// loopback (src/http/loopback.ts), so its cookies work there over plain http.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium as playwright, type BrowserContext, type Page } from 'playwright-core'
import { startGatehouse, type ConfigFiles, type RunningGatehouse } from './gatehouse.js'
import { closedPort, type Teardown } from './upstream.js'

export type { BrowserContext, Page }

export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Flags for a quiet, reproducible headless run: no sandbox (containers and CI run as root),
 *  no GPU, and none of the background traffic (updates, sync, QUIC probes) that would make
 *  a test talk to anything but the servers it started. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const SCREENSHOT_DIR = path.join(REPO, 'test-artifacts', 'screenshots')

export interface ChromiumOptions {
  viewport?: { width: number; height: number }
  /** Per-action and navigation timeout in ms (default 15 s): a stuck page fails the test
   *  with the step it stuck at, long before tap's own timeout. */
  timeout?: number
  /** Ignore pages' Content-Security-Policy, for a test that runs its own script on a page
   *  whose CSP forbids it (a websocket from Gatehouse's 403 page, say). */
  bypassCSP?: boolean
}

/**
 * Starts Chromium with a fresh, empty profile in a temporary directory: a browser with no
 * cookies, cache or history, as if just installed. Each call is its own browser, so two
 * users in one test are two calls. Closed, and the profile removed, when the test ends.
 */
export async function chromium(t: Teardown, options: ChromiumOptions = {}): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}; the browser tests need Debian's chromium package ` +
        '(scripts/ensure-system.sh installs it: apt-get install chromium)',
    )
  }
  const profile = mkdtempSync(path.join(tmpdir(), 'gatehouse-chromium-'))
  let context: BrowserContext
  try {
    context = await playwright.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: options.viewport ?? { width: 1024, height: 768 },
      // Nothing of the host's locale or time zone leaks into screenshots.
      locale: 'en-US',
      timezoneId: 'UTC',
      bypassCSP: options.bypassCSP ?? false,
    })
  } catch (err) {
    rmSync(profile, { recursive: true, force: true })
    throw new Error(`Chromium (${CHROMIUM_PATH}) did not start: ${(err as Error).message}`, { cause: err })
  }
  context.setDefaultTimeout(options.timeout ?? 15_000)
  context.setDefaultNavigationTimeout(options.timeout ?? 15_000)
  t.teardown(async () => {
    await context.close().catch(() => {})
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

/** The one page a fresh persistent context opens with (a new page otherwise). */
export async function firstPage(context: BrowserContext): Promise<Page> {
  return context.pages()[0] ?? (await context.newPage())
}

/** Saves the whole page as test-artifacts/screenshots/<name>.png and returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^\w.-]+/g, '-')}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}

export interface AxeViolation {
  id: string
  impact: string
  help: string
  helpUrl: string
  /** CSS selectors of the offending elements. */
  nodes: string[]
}

let axeSource: string | undefined
function loadAxeSource(): string {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
  return axeSource
}

/**
 * Runs axe-core in the page and returns its violations of impact serious or critical.
 * axe's source is evaluated through the DevTools protocol (page.evaluate of a string), not
 * injected as a <script>: Gatehouse's pages may carry a strict Content-Security-Policy, which
 * would block an injected script but does not apply to the debugger.
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(loadAxeSource())
  return page.evaluate(async () => {
    const axeApi = (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResults> } }).axe
    interface AxeResults {
      violations: { id: string; impact?: string | null; help: string; helpUrl: string; nodes: { target: unknown[] }[] }[]
    }
    const results = await axeApi.run(document, { resultTypes: ['violations'] })
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact!, help: v.help, helpUrl: v.helpUrl, nodes: v.nodes.map((n) => n.target.map(String).join(' ')) }))
  })
}

/** One line per violation, for a test message. */
export function describeViolations(violations: readonly AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`).join('; ')
}

/**
 * Gatehouse for a browser test. A browser sends `Host: app.localhost:<port>`, and a route's
 * `from` must name that port to match it, so the port is chosen first and handed to
 * `files`, which writes the config for it; it is bound right after (tried again on another
 * port should something else take it in between). Closed when the test ends.
 */
export async function gatehouseOnPort(t: Teardown, files: (port: number) => ConfigFiles | string): Promise<RunningGatehouse> {
  for (let attempt = 0; ; attempt++) {
    const port = await closedPort()
    try {
      const running = await startGatehouse(files(port), {}, { port })
      t.teardown(() => running.close())
      return running
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue
      throw err
    }
  }
}
