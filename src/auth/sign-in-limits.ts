// The failed-attempt limits of local-account sign-ins: per account and per client
// address, in fixed windows, in memory. One process keeps them for itself; with workers
// the primary keeps them for every worker (src/cluster), so N workers do not give an
// attacker N times the attempts.

/** Failed attempts one account may have in a window, and one client address. An address
 *  gets more: several people behind one NAT may mistype. */
export const ACCOUNT_FAILURES = 5
export const ADDRESS_FAILURES = 20
export const FAILURE_WINDOW_MS = 15 * 60_000
/** Entries each counter keeps at most; when full, the one that failed longest ago goes.
 *  Configured usernames have a counter of their own, so a flood of made-up names cannot
 *  push a real account's count out. */
const TRACKED_KEYS = 10_000

/** Failures per key in fixed windows, in a Map of bounded size ordered by last failure. */
class FailureCounter {
  private readonly entries = new Map<string, { count: number; resetAt: number }>()

  constructor(
    readonly limit: number,
    private readonly capacity: number,
  ) {}

  /** Seconds until `key` may try again; 0 when it may now. */
  waitSeconds(key: string, now: number): number {
    const entry = this.live(key, now)
    return entry !== undefined && entry.count >= this.limit ? Math.max(1, Math.ceil((entry.resetAt - now) / 1000)) : 0
  }

  fail(key: string, now: number): void {
    const entry = this.live(key, now) ?? { count: 0, resetAt: now + FAILURE_WINDOW_MS }
    entry.count++
    this.entries.delete(key)
    this.entries.set(key, entry)
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
  }

  /** Takes back one failure counted ahead of a check that then succeeded. */
  forgive(key: string): void {
    const entry = this.entries.get(key)
    if (entry !== undefined && entry.count > 0) entry.count--
  }

  clear(key: string): void {
    this.entries.delete(key)
  }

  private live(key: string, now: number) {
    const entry = this.entries.get(key)
    if (entry !== undefined && entry.resetAt <= now) {
      this.entries.delete(key)
      return undefined
    }
    return entry
  }
}

/** One attempt: the (clipped) username, whether an account has that name, and the
 *  client's address key (addressKey). */
export interface SignInAttempt {
  readonly known: boolean
  readonly username: string
  readonly address: string
}

/** Why an attempt is refused, and for how long. */
export interface SignInRefusal {
  readonly limit: 'account' | 'address'
  readonly seconds: number
}

export interface SignInLimits {
  /** Refuses the attempt when a limit is reached; else counts it as failed before the
   *  password is checked, so that attempts running at the same time cannot all slip
   *  under the limit while their checks are under way. */
  attempt(attempt: SignInAttempt): Promise<SignInRefusal | undefined>
  /** The password was right: the account's failures are cleared and its own charge to
   *  the address is taken back (the address's other failures stay). */
  succeeded(attempt: SignInAttempt): void
}

/** The limits of one process. */
export class LocalSignInLimits implements SignInLimits {
  private readonly known = new FailureCounter(ACCOUNT_FAILURES, TRACKED_KEYS)
  private readonly unknown = new FailureCounter(ACCOUNT_FAILURES, TRACKED_KEYS)
  private readonly addresses = new FailureCounter(ADDRESS_FAILURES, TRACKED_KEYS)

  /** Unknown usernames are limited like real ones, so a 429 does not tell which
   *  accounts exist (and their counts apart, so made-up names cannot evict real ones). */
  private accountCounter(attempt: SignInAttempt) {
    return attempt.known ? this.known : this.unknown
  }

  async attempt(attempt: SignInAttempt, now = Date.now()): Promise<SignInRefusal | undefined> {
    const account = this.accountCounter(attempt).waitSeconds(attempt.username, now)
    if (account > 0) return { limit: 'account', seconds: account }
    const client = this.addresses.waitSeconds(attempt.address, now)
    if (client > 0) return { limit: 'address', seconds: client }
    this.accountCounter(attempt).fail(attempt.username, now)
    this.addresses.fail(attempt.address, now)
    return undefined
  }

  succeeded(attempt: SignInAttempt): void {
    this.accountCounter(attempt).clear(attempt.username)
    this.addresses.forgive(attempt.address)
  }
}
