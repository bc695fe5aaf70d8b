import { compileStringMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

/** Judges the normalised path, the same one the upstream receives; case-sensitive. */
export const httpPath: CriterionDefinition = {
  name: 'http_path',
  needsUser: false,
  ok: 'http-path-ok',
  fail: 'http-path-unauthorized',
  compile(value, ctx) {
    const match = compileStringMatcher(value, ctx.path, ctx.issues)
    return match && ((k) => match('req.path', k))
  },
}
