import { compileListMatcher } from '../matchers.js'
import { claimPaths } from '../claims.js'
import { claimValues } from '../user.js'
import type { CriterionDefinition } from './criterion.js'

export const claim: CriterionDefinition = {
  name: 'claim',
  needsUser: true,
  ok: 'claim-ok',
  fail: 'claim-unauthorized',
  takesSubPath: true,
  compile(value, ctx) {
    const name = ctx.subPath
    if (!name) return ctx.issues.add(ctx.path, 'claim needs a claim name: claim/NAME (e.g. claim/groups or claim/https://example.com/roles)')
    const match = compileListMatcher(value, ctx.path, ctx.issues, { anyScalar: true })
    const paths = claimPaths(name)
    // A claim the user does not have matches nothing, not even `exclude`: deny by default.
    return match && ((k) => `(cv = ${k(claimValues)}(user, ${k(name)}, ${k(paths)})) !== undefined && (${match('cv', k)})`)
  },
}
