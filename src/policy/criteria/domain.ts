import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const domain: CriterionDefinition = {
  name: 'domain',
  needsUser: true,
  ok: 'domain-ok',
  fail: 'domain-unauthorized',
  compile(value, ctx) {
    const match = compileStringMatcher(value, ctx.path, ctx.issues, { fold: 'lower' })
    return match && ((k) => `user.domain !== undefined && (${match('user.domain', k)})`)
  },
}
