import { compileListMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const groups: CriterionDefinition = {
  name: 'groups',
  needsUser: true,
  ok: 'groups-ok',
  fail: 'groups-unauthorized',
  compile(value, ctx) {
    const test = compileListMatcher(value, ctx.path, ctx.issues)
    return test && ((input) => test(input.user!.groups))
  },
}
