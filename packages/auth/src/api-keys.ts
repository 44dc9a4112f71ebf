import { createHash, randomBytes } from 'node:crypto';

/** Prefix of generated keys, so a leaked key is recognisable in logs and secret scanners. */
export const API_KEY_PREFIX = 'esk_';
/** Prefix of generated producer keys (CONTRACT §12). */
export const PRODUCER_KEY_PREFIX = 'esp_';

// Bootstrap keys are chosen by operators: long enough to resist guessing, and free of the
// separators `EXECSTREAM_API_KEYS` uses.
const API_KEY_PATTERN = /^[A-Za-z0-9._~+/=-]{16,256}$/;
const OWNER_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,256}$/;

/** A new random key: 256 bits of entropy, base64url. */
export function generateApiKey(prefix: string = API_KEY_PREFIX): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * The stored form of a key. Keys are random and long, so a fast hash is enough: a slow KDF
 * protects low-entropy passwords, and would only add latency to every stream request here.
 */
export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** SHA-256 of a random secret (an API key, a session token), hex: the form that is stored. */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A stable public id for a key, derived from its hash: safe to print, list and revoke by. */
export function apiKeyIdOf(hash: string): string {
  return `key_${hash.slice(0, 16)}`;
}

export function isWellFormedApiKey(value: string): boolean {
  return API_KEY_PATTERN.test(value);
}

export function isValidOwnerId(value: string): boolean {
  return OWNER_ID_PATTERN.test(value);
}

export interface BootstrapKey {
  key: string;
  ownerId: string;
}

/**
 * Parses `EXECSTREAM_API_KEYS`: `key:ownerId` pairs, comma-separated (CONTRACT §8). The owner id
 * may itself contain `:` (e.g. `eip155:1:0xabc`), so each pair splits at its first colon.
 * @throws Error naming the offending entry, never echoing a key.
 */
export function parseBootstrapKeys(value: string): BootstrapKey[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new Error('must hold at least one key:ownerId pair');
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const colon = entry.indexOf(':');
    const key = colon === -1 ? entry : entry.slice(0, colon);
    const ownerId = colon === -1 ? '' : entry.slice(colon + 1);
    const where = `entry ${index + 1}`;
    if (!isWellFormedApiKey(key)) {
      throw new Error(
        `${where}: the key must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ + / = -`,
      );
    }
    if (!isValidOwnerId(ownerId)) {
      throw new Error(
        `${where}: expected key:ownerId, with an owner id of 1 to 256 characters of A-Z a-z 0-9 . _ : @ -`,
      );
    }
    if (seen.has(key)) throw new Error(`${where}: the same key appears twice`);
    seen.add(key);
    return { key, ownerId };
  });
}
