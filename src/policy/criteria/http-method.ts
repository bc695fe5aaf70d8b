import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const httpMethod: CriterionDefinition = {
  name: 'http_method',
  needsUser: false,
  ok: 'http-method-ok',
  fail: 'http-method-unauthorized',
  compile(value, ctx) {
    const test = compileStringMatcher(value, ctx.path, ctx.issues, { fold: 'upper' })
    return test && ((input) => test(input.request.method))
  },
}
