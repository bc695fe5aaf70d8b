// Reads a route's `policy:` block: the policy engine checks it as plain data and names
// problems (and warnings) by key path; this maps each path back to its YAML node for
// file:line:col.

import { parsePolicy, type PolicyIssue, type Rule } from '../policy/index.js'
import { position, report, toPlain, type Reader } from './schema.js'

/** The node for a path, or for its nearest ancestor that has one. */
function nearest(nodes: Map<string, unknown>, path: string): unknown {
  for (let p = path; p; p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, '')) {
    if (nodes.has(p)) return nodes.get(p)
    if (!/(\.[^.[\]]*|\[\d+\])$/.test(p)) break
  }
  return undefined
}

export const policyReader: Reader<Rule[]> = {
  expects: 'a policy (a rule or a list of rules)',
  read(node, ctx, path) {
    const nodes = new Map<string, unknown>()
    const keys = new Map<string, unknown>()
    const issuesBefore = ctx.issues.length
    const raw = toPlain(node, ctx, path, (p, value, key) => {
      nodes.set(p, value)
      if (key !== undefined) keys.set(p, key)
    })
    if (ctx.issues.length > issuesBefore) return undefined
    const nodeFor = (issue: PolicyIssue) => (issue.atKey ? keys.get(issue.path) : undefined) ?? nearest(nodes, issue.path) ?? node
    const parsed = parsePolicy(raw, path)
    if ('issues' in parsed) {
      for (const issue of parsed.issues) report(ctx, nodeFor(issue), issue.path, issue.message)
      return undefined
    }
    for (const warning of parsed.warnings)
      ctx.warnings?.push({ file: ctx.file, ...position(ctx, nodeFor(warning)), path: warning.path, message: warning.message })
    return parsed.rules
  },
}
