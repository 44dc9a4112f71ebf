import {
  API_KEY_PREFIX,
  type BootstrapKey,
  generateApiKey,
  hashApiKey,
  isValidOwnerId,
  PRODUCER_KEY_PREFIX,
} from './api-keys.ts';
import type { ApiKeyFields, ApiKeyRecord, ApiKeyRole, ApiKeyStore } from './key-store.ts';

/**
 * Creates a key for an owner (or, with `role: 'producer'`, a producer key named `ownerId`); the
 * key itself is returned once and never stored.
 */
export async function createApiKey(
  store: ApiKeyStore,
  fields: ApiKeyFields,
): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!isValidOwnerId(fields.ownerId)) {
    throw new Error('ownerId must be 1 to 256 characters of A-Z a-z 0-9 . _ : @ -');
  }
  const key = generateApiKey(fields.role === 'producer' ? PRODUCER_KEY_PREFIX : API_KEY_PREFIX);
  const record = await store.add(hashApiKey(key), fields);
  return { key, record };
}

/**
 * Loads bootstrap keys (`EXECSTREAM_API_KEYS`, or `EXECSTREAM_PRODUCER_KEYS` with the role
 * `producer`) into a store, by hash.
 */
export async function loadBootstrapKeys(
  store: ApiKeyStore,
  keys: readonly BootstrapKey[],
  role: ApiKeyRole = 'user',
): Promise<void> {
  for (const { key, ownerId } of keys) {
    await store.add(hashApiKey(key), { ownerId, label: 'bootstrap', role });
  }
}
