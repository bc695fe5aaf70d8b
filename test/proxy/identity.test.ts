// The identity assertion: ES256 JWTs that verify against Gatehouse's JWKS.

import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import t from 'tap'
import { GatehouseError } from '../../src/errors.js'
import { ASSERTION_TTL_SECONDS, IdentitySigner } from '../../src/identity/signer.js'
import type { IdentityClaims } from '../../src/identity/claims.js'
import { send } from '../helpers/client.js'
import { gatehouse, publicRoute } from '../helpers/gatehouse.js'
import { rawRequest } from '../helpers/raw.js'
import { upstream } from '../helpers/upstream.js'

const ann: IdentityClaims = { sub: 'auth0|1', user: 'ann', email: 'ann@example.com', groups: ['premium', 'staff'], name: 'Ann A', sid: 's-1' }

function keyDir(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('assertions verify against the JWKS, with the documented claims', async (t) => {
  const dir = keyDir(t)
  const file = path.join(dir, 'signing.pem')
  writeFileSync(file, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const signer = IdentitySigner.fromFile(file)
  const now = Math.floor(Date.now() / 1000)
  const token = signer.assertion(ann, 'app.example.com', now)
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(signer.jwks()), {
    issuer: 'app.example.com',
    audience: 'app.example.com',
    algorithms: ['ES256'],
  })
  t.equal(protectedHeader.kid, signer.jwk.kid)
  t.equal(protectedHeader.alg, 'ES256')
  t.match(payload, { sub: 'auth0|1', user: 'ann', email: 'ann@example.com', groups: ['premium', 'staff'], name: 'Ann A', sid: 's-1', iat: now })
  t.equal(payload.exp, now + ASSERTION_TTL_SECONDS, 'five minutes')
  t.match(payload.jti, /^[0-9a-f-]{36}$/)
  t.strictSame(Object.keys(signer.jwks().keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'the JWKS holds no private part')

  // A second key's JWKS does not verify it.
  await t.rejects(jwtVerify(token, createLocalJWKSet(IdentitySigner.fromFile(writeKey(dir, 'other.pem')).jwks())))
})

function writeKey(dir: string, name: string): string {
  const file = path.join(dir, name)
  writeFileSync(file, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  return file
}

t.test('one signature per session and audience until close to expiry', async (t) => {
  const signer = IdentitySigner.fromFile(writeKey(keyDir(t), 'k.pem'))
  const now = 1_800_000_000
  const first = signer.assertion(ann, 'a.test', now)
  t.equal(signer.assertion(ann, 'a.test', now + 200), first, 'cached while more than a minute is left')
  t.not(signer.assertion(ann, 'b.test', now), first, 'another audience gets its own')
  t.not(signer.assertion({ ...ann, sid: 's-2' }, 'a.test', now), first, 'another session gets its own')
  const renewed = signer.assertion(ann, 'a.test', now + ASSERTION_TTL_SECONDS - 59)
  t.not(renewed, first, 're-signed when less than a minute is left')
  t.equal(decodeProtectedHeader(renewed).kid, signer.jwk.kid)
})

t.test('unusable signing keys are refused with GH_ERR_SIGNING_KEY, without quoting the key', async (t) => {
  const dir = keyDir(t)
  const rsa = path.join(dir, 'rsa.pem')
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const p384 = path.join(dir, 'p384.pem')
  writeFileSync(p384, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const garbage = path.join(dir, 'garbage.pem')
  writeFileSync(garbage, '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n')
  const cases: [string, RegExp][] = [
    [path.join(dir, 'missing.pem'), /cannot read the signing key .*ENOENT/],
    [rsa, /must hold an EC P-256 key/],
    [p384, /must hold an EC P-256 key/],
    [garbage, /does not hold a PEM private key/],
  ]
  for (const [file, message] of cases) {
    const err = (() => {
      try {
        IdentitySigner.fromFile(file)
      } catch (e) {
        return e
      }
    })()
    t.ok(err instanceof GatehouseError, path.basename(file))
    t.equal((err as GatehouseError).code, 'GH_ERR_SIGNING_KEY')
    t.match((err as Error).message, message)
    t.notMatch((err as Error).message, /c2VjcmV0|BEGIN/, 'the key is not quoted')
  }
})

t.test('the JWKS is served on every host; a bad key file is a config error', async (t) => {
  const dir = keyDir(t)
  const key = writeKey(dir, 'signing.pem')
  const u = await upstream(t)
  const gh = await gatehouse(t, {
    config: `allow_unusual_header_names: true\nidentity:\n  signing_key_file: ${key}\n  header: X-Identity\nroutes:\n${publicRoute('http://app.test', u.origin)}`,
  })
  for (const host of ['app.test', 'unknown.test']) {
    const res = await send(gh.port, { host, path: '/.well-known/gatehouse/jwks.json' })
    t.equal(res.status, 200)
    t.equal(res.headers['cache-control'], 'public, max-age=300')
    const jwks = JSON.parse(res.body)
    t.equal(jwks.keys.length, 1)
    t.equal(jwks.keys[0].kid, IdentitySigner.fromFile(key).jwk.kid, 'the configured key')
    t.equal(jwks.keys[0].d, undefined)
  }
  t.equal(u.received.length, 0, 'the JWKS never comes from an upstream')

  // The configured header name is an identity header too: clients cannot set it.
  await rawRequest(gh.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nX_Identity: forged\r\nX-Identity: forged\r\nConnection: close\r\n\r\n')
  t.equal(u.received.length, 1)
  t.equal(u.received[0].headers['x-identity'], undefined)
  t.equal(u.received[0].headers['x_identity'], undefined)

  const bad = await gatehouse(t, 'identity:\n  signing_key_file: ./nope.pem\n').catch((err: Error & { issues?: { path: string; message: string }[] }) => err)
  t.ok(bad instanceof Error)
  t.match((bad as Error & { issues: { path: string; message: string }[] }).issues, [
    { path: 'identity.signing_key_file', message: /cannot read the signing key .*nope\.pem: ENOENT/ },
  ])
})
