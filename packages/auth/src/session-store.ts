/**
 * What a SIWE challenge's nonce was issued for: the address and chain the message must name.
 * Kept until the nonce is used or expires.
 */
export interface NonceRecord {
  /** Lowercase `0x…` address. */
  address: string;
  chainId: number;
}

/** What is kept of a wallet session: never its token, only the token's hash (the key). */
export interface SessionRecord {
  /** Public id, `ses_` + the first 16 hex digits of the token's hash: for logs. */
  id: string;
  /** `wallet:<lowercase address>`. */
  ownerId: string;
  /** Lowercase `0x…` address. */
  address: string;
  chainId: number;
  createdAt: string;
  expiresAt: string;
}

/**
 * Where SIWE nonces and wallet sessions live, each with a TTL. Memory (the embedded store) and
 * Redis (shared by every instance, so a logout is seen by all of them at once) share these
 * semantics.
 */
export interface WalletSessionStore {
  /** Keeps a nonce for `ttlMs`. */
  putNonce(nonce: string, record: NonceRecord, ttlMs: number): Promise<void>;
  /** The nonce's record without using it; `null` when unknown, used or expired. */
  peekNonce(nonce: string): Promise<NonceRecord | null>;
  /**
   * Uses the nonce: removes it and returns its record, atomically, so of several concurrent
   * callers exactly one gets it. `null` when unknown, used or expired.
   */
  takeNonce(nonce: string): Promise<NonceRecord | null>;
  /** Keeps a session under its token's hash for `ttlMs`. */
  putSession(tokenHash: string, record: SessionRecord, ttlMs: number): Promise<void>;
  /** The session with this token hash; `null` when unknown, revoked or expired. */
  lookupSession(tokenHash: string): Promise<SessionRecord | null>;
  /** Revokes a session; false when there was none. */
  revokeSession(tokenHash: string): Promise<boolean>;
}

/** How many of each the embedded store holds at most: the oldest go first past it. */
export const MEMORY_SESSION_STORE_LIMITS = { nonces: 10_000, sessions: 100_000 } as const;

/** Entries with an expiry, oldest first; bounded, the oldest dropped first. */
class ExpiringMap<T> {
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  set(key: string, value: T, ttlMs: number): void {
    const now = Date.now();
    this.#entries.delete(key);
    // Entries of one map share a TTL, so insertion order is expiry order: the expired and, at
    // the bound, the oldest are at the front.
    for (const [oldest, entry] of this.#entries) {
      if (entry.expiresAt > now && this.#entries.size < this.#max) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expiresAt: now + ttlMs });
  }

  get(key: string): T | null {
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return null;
    }
    return entry.value;
  }

  take(key: string): T | null {
    const value = this.get(key);
    this.#entries.delete(key);
    return value;
  }
}

/**
 * Nonces and sessions in this process's memory, for the embedded store: one process is the
 * whole deployment. Bounded (`MEMORY_SESSION_STORE_LIMITS`): the challenge route is open to
 * anyone, so its nonces must not grow without end.
 */
export class MemoryWalletSessionStore implements WalletSessionStore {
  readonly #nonces = new ExpiringMap<NonceRecord>(MEMORY_SESSION_STORE_LIMITS.nonces);
  readonly #sessions = new ExpiringMap<SessionRecord>(MEMORY_SESSION_STORE_LIMITS.sessions);

  async putNonce(nonce: string, record: NonceRecord, ttlMs: number) {
    this.#nonces.set(nonce, record, ttlMs);
  }

  async peekNonce(nonce: string) {
    return this.#nonces.get(nonce);
  }

  async takeNonce(nonce: string) {
    return this.#nonces.take(nonce);
  }

  async putSession(tokenHash: string, record: SessionRecord, ttlMs: number) {
    this.#sessions.set(tokenHash, record, ttlMs);
  }

  async lookupSession(tokenHash: string) {
    return this.#sessions.get(tokenHash);
  }

  async revokeSession(tokenHash: string) {
    return this.#sessions.take(tokenHash) !== null;
  }
}
