import { expectTrue, type CriterionDefinition } from './criterion.js'

export const accept: CriterionDefinition = {
  name: 'accept',
  needsUser: false,
  ok: 'accept',
  fail: 'accept',
  compile: (value, ctx) => expectTrue(value, ctx) && (() => 'true'),
}
