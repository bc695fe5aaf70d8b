import { expectTrue, type CriterionDefinition } from './criterion.js'

export const reject: CriterionDefinition = {
  name: 'reject',
  needsUser: false,
  ok: 'reject',
  fail: 'reject',
  compile: (value, ctx) => expectTrue(value, ctx) && (() => 'false'),
}
