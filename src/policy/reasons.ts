// Reasons explain why a criterion passed or failed, as in Pomerium ("email-ok",
// "user-unauthenticated", ...). During evaluation a set of reasons is a bit mask, so
// merging sets costs one OR and allocates nothing.

const NAMES: string[] = []
const BITS = new Map<string, number>()

/** The sign bit of a result carries its value; reasons may use bits 0 to 30. */
export const VALUE_BIT = 0x80000000 | 0
export const REASON_BITS = 0x7fffffff

export function reasonBit(name: string): number {
  const existing = BITS.get(name)
  if (existing !== undefined) return existing
  if (NAMES.length >= 31) throw new Error(`too many policy reasons (adding ${name})`)
  const bit = 1 << NAMES.length
  NAMES.push(name)
  BITS.set(name, bit)
  return bit
}

/** A criterion that needs a user, evaluated without one. The proxy then asks the user
 *  to sign in instead of answering 403. */
export const USER_UNAUTHENTICATED = reasonBit('user-unauthenticated')

export function reasonNames(mask: number): string[] {
  const out: string[] = []
  for (let i = 0; i < NAMES.length; i++) if (mask & (1 << i)) out.push(NAMES[i])
  return out
}
