// The Redis store: the session lives in Redis, sealed with the session secrets (AES-GCM,
// as in cookies), and the browser holds only a ticket: the session id, sealed too, so it
// can be neither guessed nor forged. Signing out deletes the session, so a copied
// cookie is refused on every replica; revocations are announced over pub/sub, so open
// websockets close everywhere.
//
// Reads are cached in this process for at most READ_CACHE_MS, which keeps the request
// path free of a network round trip for most requests; a sign-out elsewhere reaches
// this replica through pub/sub at once, and at the latest when the entry ages out.
//
// Commands never queue while Redis is away (no offline queue) and time out quickly: a
// request that needs a session then fails closed, and nothing grows without bound.

import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import type { SessionStoreSettings, SessionSettings } from '../config/compile-auth.js'
import { GatehouseError } from '../errors.js'
import { nowSeconds, SessionCodec } from './codec.js'
import { sessionCookies, type SessionCookie } from './cookie.js'
import type { CookieMap } from './cookies.js'
import type { Revocations } from './revocations.js'
import {
  isSessionData,
  newCode,
  sessionOf,
  type SaveOptions,
  type Session,
  type SessionData,
  type SessionLock,
  type SessionLookup,
  type SessionStore,
} from './store.js'

/** How long a session read from Redis is served from memory. */
export const READ_CACHE_MS = 1_000
const CACHE_LIMIT = 10_000
/** A refresh holds the lock at most this long; a holder that died is overtaken then. */
const LOCK_TTL_MS = 10_000
const LOCK_WAIT_MS = 15_000
const LOCK_POLL_MS = 50
/** Sealed session data may be larger than a cookie could carry. */
const MAX_SEALED_LENGTH = 256 * 1024
const DATA_NAME = 'gatehouse redis session'

const key = (sid: string) => `gatehouse:session:${sid}`
const lockKey = (sid: string) => `gatehouse:lock:${sid}`
const subjectKey = (idp: string, sub: string) => `gatehouse:subject:${idp}:${sub}`
const idpSessionKey = (idp: string, idpSid: string) => `gatehouse:idp-session:${idp}:${idpSid}`
const CHANNEL = 'gatehouse:sessions'

/** Releases a lock only if this holder still holds it. */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

type Client = Redis | Cluster
type RedisSettings = Extract<SessionStoreSettings, { kind: 'redis' }>

const CLIENT_OPTIONS: RedisOptions = {
  // A command issued while Redis is unreachable fails at once instead of waiting in an
  // unbounded queue; one that was sent fails after commandTimeout.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 1_000,
  connectTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
}

/** ioredis, required when the first client is made: most deployments keep sessions in
 *  cookies, and need not load it at every start. */
let ioredis: typeof import('ioredis') | undefined
const loadIoredis = () => (ioredis ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis'))

/** ioredis clients for the settings: a node, a Sentinel group, or a Cluster. */
export function redisClient(settings: RedisSettings): Client {
  const { Cluster, Redis } = loadIoredis()
  const password = settings.password
  const sentinel = /^redis\+sentinel:\/\/([^/]+)\/([^/]+)(?:\/(\d+))?$/.exec(settings.url)
  if (sentinel) {
    return new Redis({
      ...CLIENT_OPTIONS,
      sentinels: hostList(sentinel[1]),
      name: decodeURIComponent(sentinel[2]),
      db: sentinel[3] === undefined ? 0 : Number(sentinel[3]),
      ...(password ? { password } : {}),
    })
  }
  const cluster = /^redis\+cluster:\/\/(.+)$/.exec(settings.url)
  if (cluster) {
    return new Cluster(hostList(cluster[1]), { enableOfflineQueue: false, redisOptions: { ...CLIENT_OPTIONS, ...(password ? { password } : {}) } })
  }
  return new Redis(settings.url, { ...CLIENT_OPTIONS, ...(password ? { password } : {}) })
}

function hostList(text: string): { host: string; port: number }[] {
  return text.split(',').map((item) => {
    const colon = item.lastIndexOf(':')
    return colon === -1 ? { host: item, port: 6379 } : { host: item.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(item.slice(colon + 1)) }
  })
}

/** Runs Redis commands; whatever fails (a timeout, no connection) becomes one coded
 *  error, with the driver's error as its cause. */
async function redisCall<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    throw new GatehouseError('GH_ERR_SESSION_STORE_UNAVAILABLE', `Redis: ${(err as Error)?.message ?? 'unavailable'}`, { cause: err })
  }
}

interface Ticket {
  readonly sid: string
}

interface Cached {
  readonly session: Session
  /** The sealed value it was read from: an unchanged value keeps the same object. */
  readonly sealed: string
  readonly until: number
}

export class RedisSessionStore implements SessionStore {
  private readonly client: Client
  private readonly subscriber: Client
  private readonly secure: SessionCookie<Ticket>
  private readonly loopback: SessionCookie<Ticket>
  private readonly codec: SessionCodec
  /** Cookie value -> session id (opening a ticket costs a decryption). */
  private readonly tickets = new Map<string, string>()
  /** Session id -> the session as last read. */
  private readonly cache = new Map<string, Cached>()

  constructor(
    readonly settings: SessionSettings,
    private readonly revocations: Revocations,
    redis: RedisSettings,
    private readonly observeRead?: (ms: number) => void,
  ) {
    // The ticket is small: one cookie, never chunks.
    const cookies = sessionCookies<Ticket>(settings, 1)
    this.secure = cookies.secure
    this.loopback = cookies.loopback
    this.codec = new SessionCodec({ secrets: settings.secrets, lifetimeSeconds: settings.lifetimeSeconds, maxLength: MAX_SEALED_LENGTH })
    this.client = redisClient(redis)
    this.subscriber = redisClient(redis)
    // Errors are reported through status (problem()); without a listener ioredis would
    // print every reconnect attempt.
    this.client.on('error', () => {})
    this.subscriber.on('error', () => {})
    this.subscriber.on('ready', () => void this.subscriber.subscribe(CHANNEL).catch(() => {}))
    this.subscriber.on('message', (_channel: string, message: string) => this.heard(message))
  }

  get(cookies: CookieMap): SessionLookup | Promise<SessionLookup> {
    const joined = this.secure.cookie.read(cookies)
    if (joined.value === undefined) return joined.reason === 'absent' ? 'none' : 'invalid'
    let sid = this.tickets.get(joined.value)
    if (sid === undefined) {
      const ticket = this.secure.read(cookies).payload
      if (ticket === undefined || typeof ticket.sid !== 'string') return 'invalid'
      sid = ticket.sid
      if (this.tickets.size >= CACHE_LIMIT) this.tickets.delete(this.tickets.keys().next().value!)
      this.tickets.set(joined.value, sid)
    }
    const cached = this.cache.get(sid)
    if (cached !== undefined && cached.until > Date.now()) return this.live(cached.session)
    return this.load(sid, cached)
  }

  /** A session as read, unless it expired or a revocation covers it. */
  private live(session: Session): SessionLookup {
    return session.exp > nowSeconds() && !this.revocations.isRevoked(session.data) ? session : 'invalid'
  }

  private async load(sid: string, previous: Cached | undefined): Promise<SessionLookup> {
    const started = performance.now()
    const sealed = await redisCall(() => this.client.get(key(sid)))
    this.observeRead?.(performance.now() - started)
    // Gone: signed out, revoked or expired.
    if (sealed === null) {
      this.cache.delete(sid)
      return 'invalid'
    }
    let session = previous?.sealed === sealed ? previous.session : undefined
    if (session === undefined) {
      const decoded = this.codec.decode<SessionData>(DATA_NAME, sealed)
      if (decoded.reason !== undefined || !isSessionData(decoded.payload) || decoded.payload.sid !== sid) return 'invalid'
      session = sessionOf(decoded.payload, decoded.exp)
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(sid, { session, sealed, until: Date.now() + READ_CACHE_MS })
    return this.live(session)
  }

  async set(data: SessionData, cookies: CookieMap, options: SaveOptions): Promise<string[]> {
    const now = nowSeconds()
    const exp = options.expiresAt ?? now + this.settings.lifetimeSeconds
    const sealed = this.codec.encode(DATA_NAME, data, { now, expiresAt: exp })
    const expiresAtMs = exp * 1000
    const write = this.client.multi().set(key(data.sid), sealed, 'PXAT', expiresAtMs)
    // Indexes for revocation by subject and by the IdP's session id (back-channel logout).
    write.sadd(subjectKey(data.idp, data.sub), data.sid).pexpireat(subjectKey(data.idp, data.sub), expiresAtMs, 'GT')
    if (data.idpSid !== undefined) write.sadd(idpSessionKey(data.idp, data.idpSid), data.sid).pexpireat(idpSessionKey(data.idp, data.idpSid), expiresAtMs, 'GT')
    await redisCall(async () => {
      const results = await write.exec()
      const failed = results?.find(([err]) => err)
      if (failed) throw failed[0]
      // Other replicas drop what they cached of this session (a refresh changed it).
      await this.client.publish(CHANNEL, `changed ${data.sid}`)
    })
    this.cache.set(data.sid, { session: sessionOf(data, exp), sealed, until: Date.now() + READ_CACHE_MS })
    return (options.httpLoopback ? this.loopback : this.secure).write({ sid: data.sid }, cookies, { now, expiresAt: exp })
  }

  async delete(cookies: CookieMap, options: SaveOptions): Promise<string[]> {
    const cleared = (options.httpLoopback ? this.loopback : this.secure).write(undefined, cookies)
    const ticket = this.secure.read(cookies).payload
    if (ticket !== undefined && typeof ticket.sid === 'string') await this.revokeSessions([ticket.sid])
    return cleared
  }

  /** Ends sessions by id on every replica: deleted from Redis, announced to all. */
  async revokeSessions(sids: readonly string[]): Promise<void> {
    if (sids.length === 0) return
    await redisCall(async () => {
      await this.client.del(...sids.map(key))
      for (const sid of sids) await this.client.publish(CHANNEL, `revoked ${sid}`)
    })
    for (const sid of sids) this.forget(sid)
  }

  /** Every session of a user at an IdP, or of one of the IdP's sessions (`sid` claim). */
  async revokeMatching(match: { readonly idp: string; readonly sub?: string; readonly idpSid?: string }): Promise<void> {
    const index = match.idpSid !== undefined ? idpSessionKey(match.idp, match.idpSid) : match.sub !== undefined ? subjectKey(match.idp, match.sub) : undefined
    if (index === undefined) return
    await this.revokeSessions(await redisCall(() => this.client.smembers(index)))
  }

  async stash(value: string, ttlSeconds: number): Promise<string> {
    const code = newCode()
    await redisCall(() => this.client.set(`gatehouse:stash:${code}`, value, 'EX', ttlSeconds))
    return code
  }

  async unstash(code: string): Promise<string | undefined> {
    return (await redisCall(() => this.client.getdel(`gatehouse:stash:${code}`))) ?? undefined
  }

  async claimOnce(key: string, ttlSeconds: number): Promise<boolean> {
    return (await redisCall(() => this.client.set(`gatehouse:once:${key}`, '1', 'EX', ttlSeconds, 'NX'))) === 'OK'
  }

  async lock(sid: string): Promise<SessionLock> {
    const token = randomBytes(16).toString('base64url')
    const deadline = Date.now() + LOCK_WAIT_MS
    for (;;) {
      const taken = await redisCall(() => this.client.set(lockKey(sid), token, 'PX', LOCK_TTL_MS, 'NX'))
      if (taken === 'OK') {
        // The holder reads the session afresh: another replica may have refreshed it.
        this.cache.delete(sid)
        return { release: () => void this.client.eval(RELEASE, 1, lockKey(sid), token).catch(() => {}) }
      }
      if (Date.now() > deadline) throw new GatehouseError('GH_ERR_SESSION_STORE_UNAVAILABLE', 'the session is locked by a refresh that does not finish')
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
    }
  }

  problem(): string | undefined {
    return this.client.status === 'ready' ? undefined : `Redis is ${this.client.status}`
  }

  async close(): Promise<void> {
    this.cache.clear()
    this.tickets.clear()
    await Promise.all([this.client.quit().catch(() => this.client.disconnect()), this.subscriber.quit().catch(() => this.subscriber.disconnect())])
  }

  private heard(message: string): void {
    const [event, sid] = message.split(' ', 2)
    if (!sid) return
    if (event === 'revoked') this.forget(sid)
    else if (event === 'changed') this.cache.delete(sid)
  }

  /** Drops a revoked session here and closes what holds it open (websockets). Redis
   *  itself no longer has it, so nothing needs remembering past the cache's life. */
  private forget(sid: string): void {
    this.cache.delete(sid)
    this.revocations.revoke({ sid }, nowSeconds() + Math.ceil(READ_CACHE_MS / 1000) + 1)
  }
}
