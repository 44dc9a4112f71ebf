import { apiKeyIdOf } from './api-keys.ts';

/**
 * What a key may do: `user` keys read and submit their owner's executions; `producer` keys run
 * executions through `/v1/producer/*` alone (CONTRACT §12), and nothing else.
 */
export type ApiKeyRole = 'user' | 'producer';

/** Fields of a key to store; `role` defaults to `user`. */
export interface ApiKeyFields {
  /** The owner of a user key; the name of a producer key's worker fleet. */
  ownerId: string;
  label?: string | null;
  /** @default 'user' */
  role?: ApiKeyRole;
}

/** What is kept of an API key: never the key, only its hash and whom it belongs to. */
export interface ApiKeyRecord {
  /** Public id, `key_` + the first 16 hex digits of the hash. */
  id: string;
  ownerId: string;
  role: ApiKeyRole;
  label: string | null;
  createdAt: string;
}

/** Where API keys live, by hash. A memory and a Redis implementation share these semantics. */
export interface ApiKeyStore {
  /** Stores a key's hash; a hash already present keeps its first record. */
  add(hash: string, fields: ApiKeyFields): Promise<ApiKeyRecord>;
  /** The record of the key with this hash, `null` when unknown or revoked. */
  lookup(hash: string): Promise<ApiKeyRecord | null>;
  /** Every stored key, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  /** Revokes by public id; false when no key has that id. */
  revoke(id: string): Promise<boolean>;
}

export function newApiKeyRecord(
  hash: string,
  fields: ApiKeyFields,
  now: Date = new Date(),
): ApiKeyRecord {
  return {
    id: apiKeyIdOf(hash),
    ownerId: fields.ownerId,
    role: fields.role ?? 'user',
    label: fields.label ?? null,
    createdAt: now.toISOString(),
  };
}

export function byCreation(a: ApiKeyRecord, b: ApiKeyRecord): number {
  return a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
}

/** Keys in this process's memory: bootstrap keys, and every key when there is no Redis. */
export class MemoryApiKeyStore implements ApiKeyStore {
  readonly #byHash = new Map<string, ApiKeyRecord>();

  async add(hash: string, fields: ApiKeyFields) {
    const existing = this.#byHash.get(hash);
    if (existing) return existing;
    const record = newApiKeyRecord(hash, fields);
    this.#byHash.set(hash, record);
    return record;
  }

  async lookup(hash: string) {
    return this.#byHash.get(hash) ?? null;
  }

  async list() {
    return [...this.#byHash.values()].sort(byCreation);
  }

  async revoke(id: string) {
    for (const [hash, record] of this.#byHash) {
      if (record.id === id) return this.#byHash.delete(hash);
    }
    return false;
  }
}
