import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const domain: CriterionDefinition = {
  name: 'domain',
  needsUser: true,
  ok: 'domain-ok',
  fail: 'domain-unauthorized',
  compile(value, ctx) {
    const test = compileStringMatcher(value, ctx.path, ctx.issues, { fold: 'lower' })
    return test && ((input) => input.user!.domain !== undefined && test(input.user!.domain))
  },
}
