/** `a.b` walks nested objects; `\.` is a literal dot in a key. */
export function claimPath(name: string): string[] {
  return name.split(/(?<!\\)\./).map((part) => part.replaceAll('\\.', '.'))
}

/**
 * A claim by name: the literal key first (namespaced claims such as
 * `https://example.com/roles` or `auth0/roles`), then the name as a path into nested
 * objects (`address.country`, as Cloudentity documents).
 */
export function findClaim(claims: Readonly<Record<string, unknown>>, name: string, path: readonly string[] = claimPath(name)): unknown {
  if (Object.hasOwn(claims, name)) return claims[name]
  if (path.length === 1 && path[0] === name) return undefined
  let value: unknown = claims
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}
