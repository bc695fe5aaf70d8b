// A user's whole day with Gatehouse, in Chromium: the sign-in chooser (two IdPs), a
// cancelled sign-in at the IdP, signing in, the app seeing who it is, a websocket from the
// app's page, a 403 on a host the policy keeps them out of, and signing out, after which
// neither host lets them in without signing in again. Every page is kept as a screenshot
// (test-artifacts/screenshots/flows-*.png) and Gatehouse's own pages are checked with axe.

import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { axe, chromium, describeViolations, firstPage, gatehouseOnPort, screenshot, type Page } from '../helpers/chromium.js'
import { waitReady } from '../helpers/browser.js'
import { idp, TEST_CLIENT, type TestIdp } from '../helpers/idp.js'
import { upstream, type Handler } from '../helpers/upstream.js'
import type { Response } from 'playwright-core'

const SECRET = randomBytes(32).toString('base64')
const CLIENT_ID = 'gatehouse-flows'

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const header = (headers: IncomingHttpHeaders, name: string) => [headers[name] ?? ''].flat().join(', ')

/** The app: at / a page showing what Gatehouse said about the user, with a button that
 *  talks over a websocket through the proxy; anything else is echoed as JSON. */
const app: Handler = (req, res, body) => {
  if (req.method === 'GET' && req.url === '/') {
    const assertion = header(req.headers, 'x-gatehouse-jwt-assertion')
    // Shown only, not verified: the identity tests check the signature.
    let assertedEmail = ''
    try {
      assertedEmail = String(JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString()).email ?? '')
    } catch {
      // no assertion, or not a JWT: shown as absent below
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Echo app</title></head>
<body><main><h1>Echo app</h1><p>What Gatehouse told this app about you:</p>
<dl>
<dt>X-Forwarded-User</dt><dd id="user">${escape(header(req.headers, 'x-forwarded-user'))}</dd>
<dt>X-Forwarded-Email</dt><dd id="email">${escape(header(req.headers, 'x-forwarded-email'))}</dd>
<dt>X-Forwarded-Groups</dt><dd id="groups">${escape(header(req.headers, 'x-forwarded-groups'))}</dd>
<dt>X-Gatehouse-Jwt-Assertion</dt><dd id="assertion">${assertion ? `present, for ${escape(assertedEmail)}` : 'absent'}</dd>
</dl>
<p><button id="ws" type="button">Say hello over a websocket</button> <output id="ws-result"></output></p>
<script>
document.getElementById('ws').addEventListener('click', () => {
  const out = document.getElementById('ws-result')
  const ws = new WebSocket('ws://' + location.host + '/ws')
  ws.onopen = () => ws.send('hello from the page')
  ws.onmessage = (event) => { out.textContent = event.data; ws.close() }
  ws.onerror = () => { out.textContent = 'websocket failed' }
})
</script></main></body></html>`)
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }))
}

/** The main-frame navigation answer (not a redirect) whose URL passes `where`, once
 *  `action` has run and the page has loaded. */
async function land(page: Page, where: (url: URL) => boolean, action: () => Promise<unknown>): Promise<Response> {
  const answer = page.waitForResponse(
    (r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame() && (r.status() < 300 || r.status() >= 400) && where(new URL(r.url())),
  )
  await action()
  const response = await answer
  await page.waitForLoadState('load')
  return response
}

async function noAxeViolations(t: Test, page: Page, what: string): Promise<void> {
  const violations = await axe(page)
  t.same(
    violations.map((v) => `${v.id} (${v.impact})`),
    [],
    `${what}: no serious or critical accessibility violations${violations.length ? ` — ${describeViolations(violations)}` : ''}`,
  )
}

function register(provider: TestIdp, origins: string[], idpId: string) {
  return provider.registerClient({
    ...TEST_CLIENT,
    client_id: CLIENT_ID,
    // /oauth2/callback/<id> too: that is the callback an IdP gets among several when
    // Gatehouse does not see it send RFC 9207's iss.
    redirect_uris: origins.flatMap((o) => [`${o}/oauth2/callback`, `${o}/oauth2/callback/${idpId}`]),
    post_logout_redirect_uris: origins.flatMap((o) => [`${o}/.gatehouse/signed_out`, `${o}/`]),
  })
}

t.test('sign-in chooser, cancel, sign-in, the app, a websocket, a 403, sign-out: in Chromium', async (t) => {
  const started = Date.now()
  const provider = await idp(t)
  const other = await idp(t)
  const echo = await upstream(t, { handler: app, websockets: true })
  const gh = await gatehouseOnPort(
    t,
    (port) => `
idps:
  - id: test
    name: Test IdP
    issuer: ${provider.issuer}
    client_id: ${CLIENT_ID}
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups]
    logout: true
  - id: other
    name: Other IdP
    issuer: ${other.issuer}
    client_id: ${CLIENT_ID}
    client_secret: ${TEST_CLIENT.client_secret}
    scopes: [openid, profile, email, groups]
session:
  secrets: [${SECRET}]
routes:
  - name: app
    from: http://app.localhost:${port}
    to: ${echo.origin}
    allow_websockets: true
    pass_identity_headers: true
    policy:
      allow:
        or:
          - authenticated_user: true
  - name: admin
    from: http://admin.localhost:${port}
    to: ${echo.origin}
    pass_identity_headers: true
    policy:
      allow:
        or:
          - groups: { has: admins }
`,
  )
  const appOrigin = `http://app.localhost:${gh.port}`
  const adminOrigin = `http://admin.localhost:${gh.port}`
  const idpOrigin = new URL(provider.issuer).origin
  await register(provider, [appOrigin, adminOrigin], 'test')
  await register(other, [appOrigin, adminOrigin], 'other')
  await waitReady(gh.port, `app.localhost:${gh.port}`)

  const browser = await chromium(t)
  const page = await firstPage(browser)
  const isChooser = (url: URL, origin: string) => url.origin === origin && url.pathname === '/.gatehouse/sign_in'
  const onIdp = (url: URL) => url.origin === idpOrigin

  await t.test('the protected app sends the browser to the sign-in chooser', async (t) => {
    const answer = await land(
      page,
      () => true,
      () => page.goto(`${appOrigin}/`),
    )
    t.ok(isChooser(new URL(page.url()), appOrigin), `at the chooser (${page.url()})`)
    t.equal(answer.status(), 200, 'a page, not an error')
    t.ok(await page.getByRole('link', { name: 'Test IdP' }).isVisible(), 'the test IdP is offered')
    t.ok(await page.getByRole('link', { name: 'Other IdP' }).isVisible(), 'and the other one')
    await screenshot(page, 'flows-01-chooser')
    await noAxeViolations(t, page, 'the chooser')
  })

  await t.test('cancelling at the IdP shows its message and a way to try again', async (t) => {
    await land(page, onIdp, () => page.getByRole('link', { name: 'Test IdP' }).click())
    t.ok(await page.locator('button[data-user="bob"]').isVisible(), "the IdP's login form")
    await screenshot(page, 'flows-02-idp-login')

    const answer = await land(
      page,
      (url) => url.origin === appOrigin,
      () => page.getByRole('button', { name: 'Cancel' }).click(),
    )
    t.equal(new URL(page.url()).pathname, '/oauth2/callback', 'back at the callback with the error')
    t.ok(answer.status() >= 400 && answer.status() < 500, `answered ${answer.status()}`)
    t.match(await page.textContent('body'), /the user cancelled the sign-in/, "the page shows the IdP's own message")
    t.ok(await page.getByRole('link', { name: 'Try again' }).isVisible(), 'and a "Try again" link')
    await screenshot(page, 'flows-03-sign-in-cancelled')
    await noAxeViolations(t, page, 'the cancelled sign-in page')
  })

  await t.test('trying again and signing in as bob lands on the app, which sees who he is', async (t) => {
    await land(
      page,
      (url) => onIdp(url) || isChooser(url, appOrigin),
      () => page.getByRole('link', { name: 'Try again' }).click(),
    )
    if (isChooser(new URL(page.url()), appOrigin)) await land(page, onIdp, () => page.getByRole('link', { name: 'Test IdP' }).click())
    t.ok(onIdp(new URL(page.url())), 'at the IdP again')

    const answer = await land(
      page,
      (url) => url.origin === appOrigin && url.pathname === '/',
      () => page.locator('button[data-user="bob"]').click(),
    )
    t.equal(answer.status(), 200, 'the app answers')
    t.equal(await page.textContent('#user'), 'bob', 'the app was told X-Forwarded-User: bob')
    t.equal(await page.textContent('#email'), 'bob@example.com', 'X-Forwarded-Email')
    t.equal(await page.textContent('#groups'), 'developers', 'X-Forwarded-Groups')
    t.equal(await page.textContent('#assertion'), 'present, for bob@example.com', 'and got the identity assertion')
    await screenshot(page, 'flows-04-app')
  })

  await t.test("a websocket from the app's page goes through the proxy", async (t) => {
    const before = echo.upgrades.length
    await page.click('#ws')
    await page.waitForFunction(() => document.getElementById('ws-result')?.textContent !== '')
    t.equal(await page.textContent('#ws-result'), 'echo:hello from the page', 'a message there and back')
    t.equal(echo.upgrades.length, before + 1, 'one websocket reached the app')
    t.equal(echo.upgrades.at(-1)?.headers['x-forwarded-user'], 'bob', 'carrying his identity')
    await screenshot(page, 'flows-05-app-websocket')
  })

  await t.test('admin.localhost lets admins only: bob gets a 403 page', async (t) => {
    // No session on this host yet: the chooser again, and the IdP remembers him.
    await land(
      page,
      () => true,
      () => page.goto(`${adminOrigin}/`),
    )
    t.ok(isChooser(new URL(page.url()), adminOrigin), 'the chooser on admin.localhost')
    const answer = await land(
      page,
      (url) => (url.origin === adminOrigin && url.pathname === '/') || onIdp(url),
      () => page.getByRole('link', { name: 'Test IdP' }).click(),
    )
    const denied = onIdp(new URL(page.url()))
      ? await land(
          page,
          (url) => url.origin === adminOrigin && url.pathname === '/',
          () => page.locator('button[data-user="bob"]').click(),
        )
      : answer
    t.equal(denied.status(), 403, 'admin.localhost answers 403')
    t.match(await page.title(), /403/, 'and shows a page saying so')
    t.match(await page.textContent('body'), /Bob Developer|bob@example\.com/, 'naming who is signed in')
    await screenshot(page, 'flows-06-admin-403')
    await noAxeViolations(t, page, 'the 403 page')
  })

  await t.test('the user page shows who bob is, his claims and the routes he can reach', async (t) => {
    const answer = await land(
      page,
      () => true,
      () => page.goto(`${appOrigin}/.gatehouse/`),
    )
    t.equal(answer.status(), 200)
    t.equal(await page.textContent('h1'), 'Your account')
    t.match(await page.textContent('main'), /bob@example\.com/)
    t.ok(await page.getByRole('link', { name: 'app' }).isVisible(), 'the app route, which lets him in')
    t.equal(await page.getByRole('link', { name: 'admin' }).count(), 0, 'not the admin route')
    await screenshot(page, 'flows-06b-user-page')
    await noAxeViolations(t, page, 'the user page')
  })

  await t.test('signing out on app.localhost ends the session on both hosts and at the IdP', async (t) => {
    await land(
      page,
      () => true,
      () => page.goto(`${appOrigin}/.gatehouse/sign_out`),
    )
    // Click through whatever asks to confirm: Gatehouse's page, then the IdP's.
    for (let step = 0; step < 4; step++) {
      const url = new URL(page.url())
      if (url.origin === appOrigin && url.pathname === '/.gatehouse/signed_out') break
      if (onIdp(url)) {
        await screenshot(page, 'flows-07-idp-sign-out')
        await land(
          page,
          (u) => !onIdp(u),
          () => page.getByRole('button', { name: /yes, sign me out/i }).click(),
        )
      } else if (url.pathname === '/.gatehouse/sign_out') {
        await screenshot(page, 'flows-07-sign-out-confirmation')
        await noAxeViolations(t, page, 'the sign-out confirmation')
        await land(
          page,
          (u) => u.pathname !== '/.gatehouse/sign_out',
          () => page.getByRole('button', { name: /sign out/i }).click(),
        )
      } else break
    }
    t.equal(page.url(), `${appOrigin}/.gatehouse/signed_out`, 'at the signed-out page')
    t.match(await page.textContent('body'), /signed out/i, 'which says so')
    t.ok(provider.counts.endSession >= 1, 'the IdP was asked to end its session (logout: true)')
    await screenshot(page, 'flows-08-signed-out')
    await noAxeViolations(t, page, 'the signed-out page')

    for (const [origin, name] of [
      [appOrigin, 'app'],
      [adminOrigin, 'admin'],
    ] as const) {
      const answer = await land(
        page,
        () => true,
        () => page.goto(`${origin}/`),
      )
      const url = new URL(page.url())
      await screenshot(page, `flows-09-${name}-after-sign-out`)
      t.ok(
        isChooser(url, origin) || onIdp(url),
        `${name}.localhost asks to sign in again (ended at ${url.href}, ${answer.status()}: ${(await page.title()) || '(untitled)'})`,
      )
    }

    // The IdP's own session ended too: its login form shows instead of a silent sign-in.
    await land(
      page,
      () => true,
      () => page.goto(`${appOrigin}/`),
    )
    if (isChooser(new URL(page.url()), appOrigin)) await land(page, onIdp, () => page.getByRole('link', { name: 'Test IdP' }).click())
    t.ok(onIdp(new URL(page.url())) && (await page.locator('button[data-user="bob"]').isVisible()), 'the IdP asks who is signing in: its session ended too')
    await screenshot(page, 'flows-10-idp-login-after-sign-out')
  })

  t.comment(`flows test took ${Date.now() - started} ms`)
})
