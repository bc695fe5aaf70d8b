// When the IdP answers with an error (the user cancelled, a refused request, a client it
// does not know), the user sees what it said, escaped, with a way to try again, and the
// log says it too.

import t from 'tap'
import { browse, CookieJar, waitReady } from '../helpers/browser.js'
import { gatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'
import { randomBytes } from 'node:crypto'

const HOST = 'app.test'

t.test('a cancelled sign-in shows the IdP error and description, and a link to try again', async (t) => {
  const p = await idp(t)
  p.registerClient({ ...TEST_CLIENT, client_id: 'errors', redirect_uris: [`http://${HOST}/oauth2/callback`] })
  const gh = await gatehouse(
    t,
    `idps:
  - id: test
    issuer: ${p.issuer}
    client_id: errors
    client_secret: ${TEST_CLIENT.client_secret}
session:
  secrets: [${randomBytes(32).toString('base64')}]
routes:
  - from: http://${HOST}
    to: http://127.0.0.1:9
    allow_any_authenticated_user: true
`,
  )
  await waitReady(gh.port, HOST)
  const jar = new CookieJar()
  const start = await browse(gh.port, jar, HOST, '/.gatehouse/sign_in?rd=/reports')
  const back = new URL(await p.browser().cancel(String(start.headers.location)))
  t.equal(back.searchParams.get('error'), 'access_denied', 'the IdP said no')
  const page = await browse(gh.port, jar, HOST, back.pathname + back.search)
  t.equal(page.status, 400)
  t.match(page.text, /GH_ERR_SIGN_IN_FAILED/)
  t.match(page.text, /Sign-in was cancelled/, 'a heading that says what happened')
  t.match(page.text, /The identity provider said: <strong>the user cancelled the sign-in<\/strong>/, 'what the IdP said is shown')
  t.match(page.text, /<code>access_denied<\/code>/, 'with its error code')
  t.notMatch(page.text, /did not pass the checks/, 'not reported as a failed check')
  const retry = /<a class="button" href="([^"]+)">Try again<\/a>/.exec(page.text)
  t.ok(retry, 'a link to try again')
  const again = await browse(gh.port, jar, HOST, retry![1].replaceAll('&amp;', '&'))
  t.equal(again.status, 302, 'which starts a new sign-in')
  t.equal(new URL(String(again.headers.location)).origin, new URL(p.issuer).origin, 'at the same IdP')
  const logged = gh.logs.find((l) => l.msg === 'sign-in failed')?.err as { reason?: string; idp_description?: string } | undefined
  t.match(logged, { reason: 'access_denied', idp_description: 'the user cancelled the sign-in' }, 'and logged')

  const json = await browse(gh.port, new CookieJar(), HOST, back.pathname + back.search, 'application/json')
  t.equal(json.status, 400, 'a replayed answer without its transaction is still refused')
})
