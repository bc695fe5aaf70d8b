// The policy engine: pure, with no knowledge of HTTP servers.
export { Decision, parsePolicy, Policy, type Explanation, type Rule, type TraceEntry } from './compile.js'
export { legacyConflict, legacyRules, type LegacyFields } from './legacy.js'
export type { PolicyInput, PolicyIssue, PolicyRequest, PreparedUser, UserClaims, Verdict } from './types.js'
export { findClaim } from './claims.js'
export { prepareUser } from './user.js'
