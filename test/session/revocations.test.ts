import t from 'tap'
import { Revocations } from '../../src/session/revocations.js'
import type { SessionData } from '../../src/session/store.js'

const session = (sid: string, extra: Partial<SessionData> = {}): SessionData => ({
  sid,
  idp: 'corp',
  sub: `user-of-${sid}`,
  user: 'u',
  groups: [],
  claims: {},
  signedInAt: 1_000,
  ...extra,
})

t.test('a revoked session stays revoked until it would have expired, and watchers hear of it once', async (t) => {
  const r = new Revocations()
  const heard: string[] = []
  const stop = r.watch(session('a'), () => heard.push('a1'))
  r.watch(session('a'), () => heard.push('a2'))
  r.watch(session('b'), () => heard.push('b'))
  stop()
  r.revoke({ sid: 'a' }, 2_000, 1_000)
  t.strictSame(heard, ['a2'], 'only the watchers still watching, only of that session')
  t.equal(r.isRevoked(session('a')), true)
  t.equal(r.isRevoked(session('b')), false)
  r.revoke({ sid: 'a' }, 2_000, 1_000)
  t.strictSame(heard, ['a2'], 'once')
  r.revoke({ sid: 'c' }, 3_000, 2_500)
  t.equal(r.isRevoked(session('a')), false, 'forgotten once it would have expired anyway')
  t.equal(r.isRevoked(session('c')), true)
  r.revoke({ sid: 'old' }, 100, 2_500)
  t.equal(r.isRevoked(session('old')), false, 'an already expired session needs no remembering')
})

t.test('a user or IdP session revoked covers the sessions begun before, not a sign-in after', async (t) => {
  const r = new Revocations()
  const before = session('s1', { sub: 'ann', idpSid: 'op-1', signedInAt: 1_000 })
  const sameUser = session('s2', { sub: 'ann', idpSid: 'op-2', signedInAt: 1_100 })
  let closed = 0
  r.watch(before, () => closed++)
  r.watch(sameUser, () => closed++)
  r.revoke({ idp: 'corp', idpSid: 'op-1' }, 9_000, 1_200)
  t.equal(r.isRevoked(before), true, 'the IdP session that ended')
  t.equal(r.isRevoked(sameUser), false, "the user's other IdP session is untouched")
  t.equal(closed, 1)
  r.revoke({ idp: 'corp', sub: 'ann' }, 9_000, 1_300)
  t.equal(r.isRevoked(sameUser), true, 'every session of the user')
  t.equal(closed, 2)
  t.equal(r.isRevoked(session('s3', { sub: 'ann', signedInAt: 1_400 })), false, 'a sign-in afterwards is a new, valid session')
  t.equal(r.isRevoked(session('s4', { idp: 'other', sub: 'ann' })), false, 'the same sub at another IdP is someone else')
})
