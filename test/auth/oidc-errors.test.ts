// openid-client's errors become coded Gatehouse errors in one place, keeping the
// original as the cause and the IdP's own words where it gave any.

import t from 'tap'
import * as oidc from 'openid-client'
import { OidcFailure, translateOidcError } from '../../src/auth/oidc-errors.js'
import { GatehouseError } from '../../src/errors.js'

t.test('an error answer at the authorization endpoint keeps the IdP error and description', async (t) => {
  const original = new oidc.AuthorizationResponseError('authorization response error', {
    cause: new URLSearchParams({ error: 'access_denied', error_description: 'the user cancelled' }),
  })
  const failure = translateOidcError(original)
  t.type(failure, OidcFailure)
  t.equal(failure.code, 'GH_ERR_SIGN_IN_FAILED')
  t.equal(failure.reason, 'access_denied')
  t.equal(failure.idpDescription, 'the user cancelled')
  t.match(failure.message, /access_denied: the user cancelled/)
  t.equal(failure.cause, original)
})

t.test('an error body from the token endpoint keeps the IdP error', async (t) => {
  const response = new Response('{}', { status: 401 })
  const original = new oidc.ResponseBodyError('server responded with an error in the response body', {
    cause: { error: 'invalid_client', error_description: 'client authentication failed' },
    response,
  })
  const failure = translateOidcError(original)
  t.equal(failure.code, 'GH_ERR_SIGN_IN_FAILED')
  t.equal(failure.reason, 'invalid_client')
  t.match(failure.message, /invalid_client: client authentication failed/)
  t.equal(failure.cause, original)
})

t.test('network failures, however deeply wrapped, mean the IdP is unavailable', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })
  const wrapped = new TypeError('fetch failed', { cause: refused })
  const failure = translateOidcError(wrapped)
  t.equal(failure.code, 'GH_ERR_IDP_UNAVAILABLE')
  t.equal(failure.reason, 'ECONNREFUSED')
  t.equal(failure.cause, wrapped)
  const timeout = translateOidcError(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }))
  t.equal(timeout.code, 'GH_ERR_IDP_UNAVAILABLE')
})

t.test('a failed check names the library code and the check', async (t) => {
  const original = Object.assign(new Error('unexpected JWT claim value encountered'), {
    code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
    cause: { message: 'unexpected JWT "aud" (audience) claim value' },
  })
  const failure = translateOidcError(original)
  t.equal(failure.code, 'GH_ERR_SIGN_IN_FAILED')
  t.equal(failure.reason, 'OAUTH_JWT_CLAIM_COMPARISON_FAILED')
  t.match(failure.message, /OAUTH_JWT_CLAIM_COMPARISON_FAILED: unexpected JWT "aud"/)
})

t.test('our own errors keep their code; anything else is still coded', async (t) => {
  const ours = new GatehouseError('GH_ERR_IDP_UNAVAILABLE', 'not yet')
  t.equal(translateOidcError(ours).code, 'GH_ERR_IDP_UNAVAILABLE')
  t.equal(translateOidcError(ours).cause, ours)
  const odd = translateOidcError('a string thrown')
  t.equal(odd.code, 'GH_ERR_SIGN_IN_FAILED')
  t.equal(odd.cause, 'a string thrown')
  const failure = translateOidcError(new Error('x'))
  t.equal(translateOidcError(failure), failure, 'translating twice changes nothing')
})
