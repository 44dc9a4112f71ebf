import { type BootstrapKey, generateApiKey, hashApiKey, isValidOwnerId } from './api-keys.ts';
import type { ApiKeyRecord, ApiKeyStore } from './key-store.ts';

/** Creates a key for an owner; the key itself is returned once and never stored. */
export async function createApiKey(
  store: ApiKeyStore,
  fields: { ownerId: string; label?: string | null },
): Promise<{ key: string; record: ApiKeyRecord }> {
  if (!isValidOwnerId(fields.ownerId)) {
    throw new Error('ownerId must be 1 to 256 characters of A-Z a-z 0-9 . _ : @ -');
  }
  const key = generateApiKey();
  const record = await store.add(hashApiKey(key), fields);
  return { key, record };
}

/** Loads bootstrap keys (from `EXECSTREAM_API_KEYS`) into a store, by hash. */
export async function loadBootstrapKeys(
  store: ApiKeyStore,
  keys: readonly BootstrapKey[],
): Promise<void> {
  for (const { key, ownerId } of keys) {
    await store.add(hashApiKey(key), { ownerId, label: 'bootstrap' });
  }
}
