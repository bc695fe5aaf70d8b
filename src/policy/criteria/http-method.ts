import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const httpMethod: CriterionDefinition = {
  name: 'http_method',
  needsUser: false,
  ok: 'http-method-ok',
  fail: 'http-method-unauthorized',
  compile(value, ctx) {
    const match = compileStringMatcher(value, ctx.path, ctx.issues, { fold: 'upper' })
    return match && ((k) => match('req.method', k))
  },
}
