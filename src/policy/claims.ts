/** `a.b` walks nested objects; `\.` is a literal dot in a key. */
function dottedPath(name: string): string[] {
  return name.split(/(?<!\\)\./).map((part) => part.replaceAll('\\.', '.'))
}

/**
 * The paths into nested objects to try for a claim name, after its literal key: the
 * dotted path (`address.country`, as Cloudentity documents), then, for a name with a
 * slash, the same path with `/` as a separator too (`org/team`, as Pomerium reads
 * claim/org/team). Slashes come last because namespaced claims are full of them
 * (`https://example.com/roles`). Worked out once per name, where a policy compiles.
 */
export function claimPaths(name: string): string[][] {
  const dotted = dottedPath(name)
  const paths = dotted.length === 1 && dotted[0] === name ? [] : [dotted]
  if (name.includes('/')) paths.push(dotted.flatMap((part) => part.split('/')))
  return paths
}

function walk(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = claims
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/**
 * A claim by name: the literal key first (namespaced claims such as
 * `https://example.com/roles` or `auth0/roles`), then each of claimPaths in turn.
 */
export function findClaim(claims: Readonly<Record<string, unknown>>, name: string, paths: readonly (readonly string[])[] = claimPaths(name)): unknown {
  if (Object.hasOwn(claims, name)) return claims[name]
  for (const path of paths) {
    const value = walk(claims, path)
    if (value !== undefined) return value
  }
  return undefined
}
