import { expectTrue, type CriterionDefinition } from './criterion.js'

export const authenticatedUser: CriterionDefinition = {
  name: 'authenticated_user',
  needsUser: true,
  ok: 'user-ok',
  fail: 'user-unauthorized',
  // Only reached with a user present (needsUser), so any session passes.
  compile: (value, ctx) => expectTrue(value, ctx) && (() => 'true'),
}
