import type { Redis } from 'ioredis';
import { z } from 'zod';
import { parseStored, redisCall } from './redis-call.ts';
import type { NonceRecord, SessionRecord, WalletSessionStore } from './session-store.ts';

/**
 * The one place Redis key names of nonces and sessions are built. One string per nonce and per
 * session, each with a PX expiry, and every command touches one key: the hash tag holds the
 * whole variable part, as `{op_…}` does for executions, so on Redis Cluster the keys spread over
 * the slots and each command goes to the node that owns its key.
 *
 * ```text
 * <prefix>:{siwe-nonce:<nonce>}    string  NonceRecord JSON, PX = nonce TTL
 * <prefix>:{session:<sha256 hex>}  string  SessionRecord JSON, PX = session TTL
 * ```
 */
function nonceKey(prefix: string, nonce: string): string {
  return `${prefix}:{siwe-nonce:${nonce}}`;
}

function sessionKey(prefix: string, tokenHash: string): string {
  return `${prefix}:{session:${tokenHash}}`;
}

const NonceSchema = z.object({ address: z.string(), chainId: z.number() });

const SessionSchema = z.object({
  id: z.string(),
  ownerId: z.string(),
  address: z.string(),
  chainId: z.number(),
  createdAt: z.string(),
  expiresAt: z.string(),
});

/** The commands the store uses; a standalone client and a cluster client both have them. */
export type SessionRedis = Pick<Redis, 'set' | 'get' | 'getdel' | 'del'>;

export interface RedisWalletSessionStoreOptions {
  /**
   * Prefix of the keys, shared with the other execstream data in the same database.
   * @default 'es'
   */
  prefix?: string;
}

/**
 * Nonces and sessions in Redis. Every instance reads a session from Redis on every request (no
 * copy in process), so a logout on one instance refuses the cookie on all of them at once.
 */
export class RedisWalletSessionStore implements WalletSessionStore {
  readonly #redis: SessionRedis;
  readonly #prefix: string;

  constructor(redis: SessionRedis, options: RedisWalletSessionStoreOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'es';
  }

  putNonce(nonce: string, record: NonceRecord, ttlMs: number) {
    return this.#put(nonceKey(this.#prefix, nonce), record, ttlMs);
  }

  peekNonce(nonce: string) {
    return this.#read(NonceSchema, (redis) => redis.get(nonceKey(this.#prefix, nonce)));
  }

  takeNonce(nonce: string) {
    // GETDEL: one command, so of two concurrent verifications only one gets the record.
    return this.#read(NonceSchema, (redis) => redis.getdel(nonceKey(this.#prefix, nonce)));
  }

  putSession(tokenHash: string, record: SessionRecord, ttlMs: number) {
    return this.#put(sessionKey(this.#prefix, tokenHash), record, ttlMs);
  }

  lookupSession(tokenHash: string) {
    return this.#read(SessionSchema, (redis) => redis.get(sessionKey(this.#prefix, tokenHash)));
  }

  async revokeSession(tokenHash: string) {
    const key = sessionKey(this.#prefix, tokenHash);
    return (await this.#call(() => this.#redis.del(key))) === 1;
  }

  async #put(key: string, record: NonceRecord | SessionRecord, ttlMs: number): Promise<void> {
    await this.#call(() => this.#redis.set(key, JSON.stringify(record), 'PX', ttlMs));
  }

  async #read<T>(
    schema: z.ZodType<T>,
    command: (redis: SessionRedis) => Promise<string | null>,
  ): Promise<T | null> {
    const raw = await this.#call(() => command(this.#redis));
    return raw === null ? null : parseStored(schema, raw);
  }

  #call<T>(command: () => Promise<T>): Promise<T> {
    return redisCall('session store', command);
  }
}
