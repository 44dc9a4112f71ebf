import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  type ApiKeyFields,
  type ApiKeyRecord,
  type ApiKeyStore,
  byCreation,
  newApiKeyRecord,
} from './key-store.ts';
import { parseStored, redisCall } from './redis-call.ts';

/**
 * The one place Redis key names of the API-key store are built. A single hash, field = key hash,
 * value = the record as JSON: lookups are one `HGET`, and the set of keys is small.
 */
function apiKeyRedisKey(prefix: string): string {
  return `${prefix}:api-keys`;
}

/** String: the dev key `pnpm start` prints when no keys are configured (see sharedDevKey). */
function devKeyRedisKey(prefix: string): string {
  return `${prefix}:dev-api-key`;
}

const RecordSchema = z.object({
  id: z.string(),
  ownerId: z.string(),
  // Keys stored before producer keys existed are user keys.
  role: z.enum(['user', 'producer']).default('user'),
  label: z.string().nullable(),
  createdAt: z.string(),
});

export interface RedisApiKeyStoreOptions {
  /**
   * Prefix of the Redis key, shared with the other execstream data in the same database.
   * @default 'es'
   */
  prefix?: string;
}

/** The commands the store uses; a standalone client and a cluster client both have them. */
export type ApiKeyRedis = Pick<Redis, 'hsetnx' | 'hget' | 'hgetall' | 'hdel'>;

/** API keys kept in Redis, so every server instance and the keys command see the same set. */
export class RedisApiKeyStore implements ApiKeyStore {
  readonly #redis: ApiKeyRedis;
  readonly #key: string;

  constructor(redis: ApiKeyRedis, options: RedisApiKeyStoreOptions = {}) {
    this.#redis = redis;
    this.#key = apiKeyRedisKey(options.prefix ?? 'es');
  }

  async add(hash: string, fields: ApiKeyFields) {
    const record = newApiKeyRecord(hash, fields);
    // HSETNX: a concurrent add of the same key keeps one record.
    const created = await this.#call(() =>
      this.#redis.hsetnx(this.#key, hash, JSON.stringify(record)),
    );
    if (created === 1) return record;
    return (await this.lookup(hash)) ?? record;
  }

  async lookup(hash: string) {
    const raw = await this.#call(() => this.#redis.hget(this.#key, hash));
    return raw === null ? null : parseRecord(raw);
  }

  async list() {
    const all = await this.#call(() => this.#redis.hgetall(this.#key));
    return Object.values(all)
      .flatMap((raw) => {
        const record = parseRecord(raw);
        return record ? [record] : [];
      })
      .sort(byCreation);
  }

  async revoke(id: string) {
    const all = await this.#call(() => this.#redis.hgetall(this.#key));
    for (const [hash, raw] of Object.entries(all)) {
      if (parseRecord(raw)?.id === id) {
        return (await this.#call(() => this.#redis.hdel(this.#key, hash))) === 1;
      }
    }
    return false;
  }

  #call<T>(command: () => Promise<T>): Promise<T> {
    return redisCall('API key store', command);
  }
}

/**
 * The dev key of every server on this Redis: minted by the first start (`SET NX`), read by every
 * later one, so a client following a run is not refused after a restart. It is kept as is, not
 * hashed, because each start must print it: a dev key for a Redis only trusted people can read
 * (production sets `EXECSTREAM_API_KEYS` or turns the demo off, and has no dev key).
 */
export async function sharedDevKey(
  redis: Pick<Redis, 'set' | 'get'>,
  mint: () => string,
  options: RedisApiKeyStoreOptions = {},
): Promise<string> {
  const key = devKeyRedisKey(options.prefix ?? 'es');
  return redisCall('dev key in Redis', async () => {
    await redis.set(key, mint(), 'NX');
    const stored = await redis.get(key);
    if (stored === null) throw new Error(`${key} vanished right after it was set`);
    return stored;
  });
}

/** A record someone wrote by hand in a broken shape authenticates nobody. */
function parseRecord(raw: string): ApiKeyRecord | null {
  return parseStored(RecordSchema, raw);
}
