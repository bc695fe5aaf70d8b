import { compileListMatcher } from '../matchers.js'
import type { CriterionDefinition } from './criterion.js'

export const groups: CriterionDefinition = {
  name: 'groups',
  needsUser: true,
  ok: 'groups-ok',
  fail: 'groups-unauthorized',
  compile(value, ctx) {
    const match = compileListMatcher(value, ctx.path, ctx.issues)
    return match && ((k) => match('user.groups', k))
  },
}
