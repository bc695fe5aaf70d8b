import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

/** The user's id (the IdP's `sub`). */
export const user: CriterionDefinition = {
  name: 'user',
  needsUser: true,
  ok: 'user-ok',
  fail: 'user-unauthorized',
  compile(value, ctx) {
    const match = compileStringMatcher(value, ctx.path, ctx.issues)
    return match && ((k) => match('user.id', k))
  },
}
