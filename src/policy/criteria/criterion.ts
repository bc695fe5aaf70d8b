import type { IssueList } from '../issues.js'
import type { Constant } from '../matchers.js'
import type { PolicyInput } from '../types.js'

/**
 * A compiled criterion emits a boolean JavaScript expression for the policy's generated
 * evaluator. In scope: `input` (PolicyInput), `req` (input.request), `user`
 * (input.user, defined whenever the criterion needs a user) and `cv`, a scratch
 * variable. Values reach the code only through `k(value)` constants.
 */
export type Emit = (k: Constant) => string

export interface CriterionContext {
  readonly issues: IssueList
  /** Key path of the criterion's value, for messages. */
  readonly path: string
  /** What follows the first `/` of the key (`claim/NAME`), if anything. */
  readonly subPath: string | undefined
}

export interface CriterionDefinition {
  readonly name: string
  /** Evaluated without a session, such a criterion asks for a sign-in. */
  readonly needsUser: boolean
  /** Reasons reported when it matches and when it does not. */
  readonly ok: string
  readonly fail: string
  readonly takesSubPath?: boolean
  compile(value: unknown, ctx: CriterionContext): Emit | undefined
}

/** For criteria whose test is plain code rather than a matcher expression. */
export const callTest =
  (test: (input: PolicyInput) => boolean): Emit =>
  (k) =>
    `${k(test)}(input)`

/** accept, reject, authenticated_user and cors_preflight take `true` and nothing else:
 *  `false` would read as "not", which is what the `not` operator is for. */
export function expectTrue(value: unknown, ctx: CriterionContext): true | undefined {
  if (value === true) return true
  return ctx.issues.add(ctx.path, 'must be true (use the not operator to negate a criterion)')
}
