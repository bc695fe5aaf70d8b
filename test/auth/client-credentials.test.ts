// client_secret_basic as IdPs in the field read it: the client id and secret are
// form-urlencoded (RFC 6749 2.3.1), but `-`, `_`, `.` and `~` are sent as they are, as
// Apache's mod_auth_openidc sends them, because some widely deployed IdPs never decode.

import { randomBytes } from 'node:crypto'
import t from 'tap'
import { basicCredential } from '../../src/auth/providers.js'
import { signIn, waitReady } from '../helpers/browser.js'
import { fakeIdp } from '../helpers/fake-idp.js'
import { gatehouse } from '../helpers/gatehouse.js'
import { idp, TEST_CLIENT } from '../helpers/idp.js'

const HOST = 'app.test'

t.test('what is encoded, and what is not', async (t) => {
  t.equal(basicCredential('gate-house_1.0~x'), 'gate-house_1.0~x', '-, _, . and ~ as they are')
  t.equal(basicCredential('a b'), 'a+b', 'a space is +')
  t.equal(basicCredential("!'()*:%+/"), '%21%27%28%29*%3A%25%2B%2F', 'what form-urlencoding requires is encoded')
  t.equal(basicCredential('zoë'), 'zo%C3%AB')
})

const config = (issuer: string, clientId: string, clientSecret: string) => `idps:
  - id: corp
    issuer: ${issuer}
    client_id: ${JSON.stringify(clientId)}
    client_secret: ${JSON.stringify(clientSecret)}
session:
  secrets: [${randomBytes(32).toString('base64')}]
routes:
  - from: http://${HOST}
    to: http://127.0.0.1:9
    allow_any_authenticated_user: true
`

t.test('an IdP that compares Basic credentials as sent accepts ids and secrets with - _ . ~', async (t) => {
  const clientId = 'gate-house_client.v1~prod'
  const clientSecret = 'Se-cr_et.with~tildes-0123456789'
  const op = await fakeIdp(t, { clientId, clientSecret, basicDecoding: 'raw' })
  const gh = await gatehouse(t, config(op.issuer, clientId, clientSecret))
  await waitReady(gh.port, HOST)
  const { callback } = await signIn(gh.port, { host: HOST, login: async (url) => (await op.authorize(url)).href })
  t.equal(callback.status, 302, callback.text.slice(0, 300))
  t.equal(op.tokenRequests[0]?.clientAuth, 'client_secret_basic')
  t.equal(op.tokenRequests[0]?.status, 200, 'the raw-comparing IdP accepted the credentials')
  t.equal(Buffer.from(op.tokenRequests[0].authorization!.slice(6), 'base64').toString(), `${clientId}:${clientSecret}`)
})

t.test('an IdP that decodes, as RFC 6749 says, still gets the right credentials, whatever they hold', async (t) => {
  const clientId = 'gatehouse-special'
  const clientSecret = "s3cr-et_.~ with spaces!'()*:+/%"
  const p = await idp(t, {
    clients: [
      {
        ...TEST_CLIENT,
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [`http://${HOST}/oauth2/callback`],
      },
    ],
  })
  const gh = await gatehouse(t, config(p.issuer, clientId, clientSecret))
  await waitReady(gh.port, HOST)
  const { callback } = await signIn(gh.port, { host: HOST, login: (url) => p.login(url, 'alice') })
  t.equal(callback.status, 302, callback.text.slice(0, 300))
  t.strictSame(
    p.calls.filter((c) => c.route === 'token').map((c) => [c.clientAuth, c.status]),
    [['client_secret_basic', 200]],
  )
})
