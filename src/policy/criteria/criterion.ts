import type { IssueList } from '../issues.js'
import type { PolicyInput } from '../types.js'

/** Called with a user present whenever the criterion needs one. */
export type CriterionTest = (input: PolicyInput) => boolean

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
  compile(value: unknown, ctx: CriterionContext): CriterionTest | undefined
}

/** accept, reject, authenticated_user and cors_preflight take `true` and nothing else:
 *  `false` would read as "not", which is what the `not` operator is for. */
export function expectTrue(value: unknown, ctx: CriterionContext): true | undefined {
  if (value === true) return true
  return ctx.issues.add(ctx.path, 'must be true (use the not operator to negate a criterion)')
}
