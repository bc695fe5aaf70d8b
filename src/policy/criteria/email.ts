import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const email: CriterionDefinition = {
  name: 'email',
  needsUser: true,
  ok: 'email-ok',
  fail: 'email-unauthorized',
  compile(value, ctx) {
    const match = compileStringMatcher(value, ctx.path, ctx.issues, { fold: 'lower' })
    return match && ((k) => `user.email !== undefined && (${match('user.email', k)})`)
  },
}
