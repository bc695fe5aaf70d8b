// In Chromium, when the IdP cannot be reached: the sign-in page still offers the
// break-glass form, an operator signs in with a local account and reaches the app, and a
// wrong password is answered without saying which part was wrong. Also the 404 page of a
// host Gatehouse does not serve. Screenshots and axe as in flows.test.ts.

import { randomBytes } from 'node:crypto'
import t from 'tap'
import { hashPassword } from '../../src/auth/local-accounts.js'
import { axe, chromium, describeViolations, firstPage, gatehouseOnPort, screenshot } from '../helpers/chromium.js'
import { upstream } from '../helpers/upstream.js'

const PASSWORD = 'a long break-glass passphrase'
const HASH = await hashPassword(PASSWORD)
t.test('the IdP is down: a local account signs in from the sign-in page and reaches the app', async (t) => {
  const app = await upstream(t, {
    handler: (req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(
        `<!doctype html><html lang="en"><head><title>App</title></head><body><main><h1>App</h1><p id="user">${req.headers['x-forwarded-user'] ?? ''}</p></main></body></html>`,
      )
    },
  })
  const gh = await gatehouseOnPort(t, (port) => ({
    config: `session:
  secrets: [${randomBytes(32).toString('base64')}]
idps:
  - id: corp
    name: Continue with Corp SSO
    issuer: http://127.0.0.1:9/
    client_id: gh
    client_secret: s
local_accounts: { file: ./users.yaml }
routes:
  - from: http://app.localhost:${port}
    to: ${app.origin}
    pass_identity_headers: true
    allowed_groups: [admins]
`,
    files: { 'users.yaml': `accounts:\n  - username: breakglass\n    password_hash: "${HASH}"\n    groups: [admins]\n` },
  }))
  const origin = `http://app.localhost:${gh.port}`
  const browser = await chromium(t)
  const page = await firstPage(browser)

  await page.goto(`${origin}/reports`)
  t.equal(new URL(page.url()).pathname, '/.gatehouse/sign_in', 'sent to the sign-in page')
  t.ok(await page.getByRole('link', { name: 'Continue with Corp SSO' }).isVisible(), 'the IdP is offered')
  t.ok(await page.getByRole('heading', { name: 'Local account' }).isVisible(), 'and the break-glass form')
  await screenshot(page, 'break-glass-01-sign-in-page')
  t.same(
    (await axe(page)).map((v) => v.id),
    [],
    'the sign-in page with the form: no serious or critical violations',
  )

  await page.getByRole('link', { name: 'Continue with Corp SSO' }).click()
  t.match(await page.textContent('h1'), /cannot be reached/, 'the IdP itself: a page saying it cannot be reached')
  await screenshot(page, 'break-glass-02-idp-down')
  await page.goBack()

  await page.getByLabel('Username').fill('breakglass')
  await page.getByLabel('Password').fill('not the password')
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()])
  t.match(await page.textContent('main'), /wrong username or password/i, 'a wrong password: a generic answer')
  await screenshot(page, 'break-glass-03-wrong-password')

  await page.getByLabel('Username').fill('breakglass')
  await page.getByLabel('Password').fill(PASSWORD)
  await Promise.all([page.waitForURL(`${origin}/reports`), page.getByRole('button', { name: 'Sign in' }).click()])
  t.equal(await page.textContent('#user'), 'breakglass', 'the app sees the local account, judged by the same policy')
  await screenshot(page, 'break-glass-04-app')

  const missing = await page.goto(`http://nothing.localhost:${gh.port}/x`)
  t.equal(missing?.status(), 404)
  t.match(await page.textContent('main'), /nothing\.localhost:\d+\/x/, 'the 404 page names the host')
  await screenshot(page, 'break-glass-05-404')
  const violations = await axe(page)
  t.same(
    violations.map((v) => v.id),
    [],
    `the 404 page: no serious or critical violations${violations.length ? ` — ${describeViolations(violations)}` : ''}`,
  )
})
