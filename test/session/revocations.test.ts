import t from 'tap'
import { Revocations } from '../../src/session/revocations.js'

t.test('a revoked session stays revoked until it would have expired, and watchers hear of it once', async (t) => {
  const r = new Revocations()
  const heard: string[] = []
  const stop = r.watch('a', () => heard.push('a1'))
  r.watch('a', () => heard.push('a2'))
  r.watch('b', () => heard.push('b'))
  stop()
  r.revoke('a', 2_000, 1_000)
  t.strictSame(heard, ['a2'], 'only the watchers still watching, only of that session')
  t.equal(r.isRevoked('a'), true)
  t.equal(r.isRevoked('b'), false)
  r.revoke('a', 2_000, 1_000)
  t.strictSame(heard, ['a2'], 'once')
  r.revoke('c', 3_000, 2_500)
  t.equal(r.isRevoked('a'), false, 'forgotten once it would have expired anyway')
  t.equal(r.isRevoked('c'), true)
  r.revoke('old', 100, 2_500)
  t.equal(r.isRevoked('old'), false, 'an already expired session needs no remembering')
})
