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

/** accept, reject, authenticated_user and cors_preflight take `true` (or `1`, as
 *  Pomerium's own tests write it). Pomerium ignores the value, so there `accept: false`
 *  still accepts; read as "never matches" it would be a criterion that does nothing.
 *  Either way false is a mistake, so it is refused with the ways to say what was meant. */
export function expectTrue(value: unknown, ctx: CriterionContext): true | undefined {
  if (value === true || value === 1) return true
  if (value === false || value === 0) {
    return ctx.issues.add(
      ctx.path,
      `cannot be ${value}: a criterion that could only ever not match is a mistake (Pomerium would ignore the ${value} and match); remove the criterion, or use reject or the not operator`,
    )
  }
  return ctx.issues.add(ctx.path, 'must be true (use the not operator to negate a criterion)')
}
