import type { PolicyIssue } from './types.js'

/** Collects problems while a policy compiles; every compile step takes one. */
export class IssueList {
  readonly items: PolicyIssue[] = []
  add(path: string, message: string): undefined {
    this.items.push({ path, message })
    return undefined
  }

  /** A problem with the key itself (an unknown name), reported at the key, not its value. */
  addAtKey(path: string, message: string): undefined {
    this.items.push({ path, message, atKey: true })
    return undefined
  }
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

export const isScalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'

export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)}`
}
