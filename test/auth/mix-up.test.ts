// IdP mix-up (RFC 9700 4.4): with several IdPs, a malicious one (here "evil") sends the
// browser on to an honest one ("honest") with evil's own state. The honest IdP's code
// must never be redeemed at evil's token endpoint. IdPs that send RFC 9207 `iss` share
// /oauth2/callback and are told apart by it; IdPs without `iss` get a callback each.

import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { browse, CookieJar, waitReady } from '../helpers/browser.js'
import { fakeIdp, type FakeIdp } from '../helpers/fake-idp.js'
import { gatehouse, type RunningGatehouse } from '../helpers/gatehouse.js'
import { upstream } from '../helpers/upstream.js'

const HOST = 'app.test'

async function setup(t: Test, withIss: boolean) {
  const noIss = {
    discovery: { authorization_response_iss_parameter_supported: false },
  }
  const evil = await fakeIdp(t, withIss ? {} : noIss)
  const honest = await fakeIdp(t, withIss ? {} : noIss)
  if (!withIss) for (const op of [evil, honest]) op.misbehave = { authorizationResponse: (params) => params.delete('iss') }
  const app = await upstream(t)
  const gh = await gatehouse(
    t,
    `idps:
${[
  ['evil', evil],
  ['honest', honest],
]
  .map(([id, op]) => {
    const o = op as FakeIdp
    return `  - id: ${id}\n    issuer: ${o.issuer}\n    client_id: ${JSON.stringify(o.clientId)}\n    client_secret: ${JSON.stringify(o.clientSecret)}\n`
  })
  .join('')}session:
  secrets: [${randomBytes(32).toString('base64')}]
routes:
  - from: http://${HOST}
    to: ${app.origin}
    allow_any_authenticated_user: true
`,
  )
  await waitReady(gh.port, HOST)
  return { evil, honest, gh, app }
}

/** The user starts signing in with `idp`; returns the browser and where it was sent. */
async function start(gh: RunningGatehouse, idp: string) {
  const jar = new CookieJar()
  const res = await browse(gh.port, jar, HOST, `/.gatehouse/sign_in?idp=${idp}&rd=/`)
  if (res.status !== 302) throw new Error(`sign_in answered ${res.status}`)
  return { jar, authorization: new URL(String(res.headers.location)) }
}

for (const withIss of [true, false]) {
  t.test(`an honest IdP's code is never redeemed at another IdP (${withIss ? 'IdPs send iss' : 'no iss: a callback per IdP'})`, async (t) => {
    const s = await setup(t, withIss)
    // Each IdP is told its own redirect URI.
    const evilStart = await start(s.gh, 'evil')
    const honestStart = await start(s.gh, 'honest')
    const expected = (id: string) => `http://${HOST}/oauth2/callback${withIss ? '' : `/${id}`}`
    t.equal(evilStart.authorization.searchParams.get('redirect_uri'), expected('evil'))
    t.equal(honestStart.authorization.searchParams.get('redirect_uri'), expected('honest'))

    // The attack: evil's authorization endpoint sends the browser to the honest IdP with
    // evil's state (and the honest IdP's own client and redirect URI, as registered there).
    const forged = new URL(honestStart.authorization)
    forged.searchParams.set('state', evilStart.authorization.searchParams.get('state')!)
    forged.searchParams.set('nonce', evilStart.authorization.searchParams.get('nonce')!)
    forged.searchParams.set('code_challenge', evilStart.authorization.searchParams.get('code_challenge')!)
    const back = await s.honest.authorize(forged.href)
    const answer = await browse(s.gh.port, evilStart.jar, HOST, back.pathname + back.search)
    t.equal(answer.status, 400, 'the callback refuses the answer')
    t.match(answer.text, /GH_ERR_SIGN_IN_FAILED/)
    t.equal(s.evil.counts.token, 0, "nothing reached the evil IdP's token endpoint")
    t.equal(s.honest.counts.token, 0, 'nor was the code redeemed anywhere')

    // Without the attack, both IdPs sign users in.
    for (const [id, op, begun] of [
      ['honest', s.honest, honestStart],
      ['evil', s.evil, await start(s.gh, 'evil')],
    ] as const) {
      const reply = await op.authorize(begun.authorization.href)
      const done = await browse(s.gh.port, begun.jar, HOST, reply.pathname + reply.search)
      t.equal(done.status, 302, `${id}: signed in`)
    }
  })
}

t.test('redirect_path fixes an IdP callback; anything outside /oauth2/callback is refused at load', async (t) => {
  const op = await fakeIdp(t)
  const config = (path: string) => `idps:
  - id: corp
    issuer: ${op.issuer}
    client_id: ${JSON.stringify(op.clientId)}
    client_secret: ${JSON.stringify(op.clientSecret)}
    redirect_path: ${path}
session:
  secrets: [${randomBytes(32).toString('base64')}]
routes:
  - from: http://${HOST}
    to: http://127.0.0.1:9
    allow_any_authenticated_user: true
`
  const gh = await gatehouse(t, config('/oauth2/callback/corp'))
  await waitReady(gh.port, HOST)
  const begun = await start(gh, 'corp')
  t.equal(begun.authorization.searchParams.get('redirect_uri'), `http://${HOST}/oauth2/callback/corp`)
  const back = await op.authorize(begun.authorization.href)
  t.equal((await browse(gh.port, begun.jar, HOST, back.pathname + back.search)).status, 302, 'signed in through it')
  await t.rejects(gatehouse(t, config('/.gatehouse/sign_out')), { code: 'GH_ERR_CONFIG_INVALID', message: /redirect_path: must be \/oauth2\/callback/ })
})
