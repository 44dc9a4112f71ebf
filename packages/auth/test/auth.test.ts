import { describe, expect, it } from 'vitest';
import {
  type ApiKeyStore,
  apiKeyResolver,
  type CredentialResolver,
  createApiKey,
  createAuthenticator,
  hashApiKey,
  loadBootstrapKeys,
  MemoryApiKeyStore,
  parseBootstrapKeys,
  RedisApiKeyStore,
} from '../src/index.ts';
import { memoryAndRedis } from './stores.ts';

describe.each(
  memoryAndRedis<ApiKeyStore>(
    () => new MemoryApiKeyStore(),
    (client) => new RedisApiKeyStore(client),
  ),
)('the %s key store', (_name, open) => {
  it('keeps only hashes, looks keys up, lists and revokes them', async () => {
    await using handle = await open();
    const { store } = handle;
    const { key, record } = await createApiKey(store, { ownerId: 'eip155:1:0xabc', label: 'ci' });
    expect(key).toMatch(/^esk_[A-Za-z0-9_-]{43}$/);
    expect(await store.lookup(hashApiKey(key))).toEqual(record);
    expect(await store.lookup(hashApiKey(`${key}x`))).toBeNull();
    if (handle.raw) {
      const stored = JSON.stringify(await handle.raw.hgetall('es:api-keys'));
      expect(stored).not.toContain(key);
      expect(stored).toContain(hashApiKey(key));
    }
    const other = await createApiKey(store, { ownerId: 'someone' });
    expect((await store.list()).map((r) => r.id).sort()).toEqual(
      [record.id, other.record.id].sort(),
    );
    expect(await store.revoke(record.id)).toBe(true);
    expect(await store.revoke(record.id)).toBe(false);
    expect(await store.lookup(hashApiKey(key))).toBeNull();
    expect((await store.list()).map((r) => r.id)).toEqual([other.record.id]);
  });
});

describe('authentication', () => {
  it('accepts a known key, refuses unknown, malformed and repeated ones', async () => {
    const bootstrap = new MemoryApiKeyStore();
    await loadBootstrapKeys(bootstrap, parseBootstrapKeys('dev-key-0123456789ab:owner-1'));
    const authenticate = createAuthenticator([apiKeyResolver([bootstrap])]);
    expect(await authenticate({ headers: { 'x-api-key': 'dev-key-0123456789ab' } })).toMatchObject({
      ownerId: 'owner-1',
      credential: 'api-key',
    });
    for (const headers of [
      {},
      { 'x-api-key': 'dev-key-0123456789ac' },
      { 'x-api-key': 'short' },
      { 'x-api-key': ['dev-key-0123456789ab', 'dev-key-0123456789ab'] },
    ]) {
      expect(await authenticate({ headers })).toBeNull();
    }
  });

  it('takes the key from connectionParams.apiKey when no header carries one; the header wins', async () => {
    const bootstrap = new MemoryApiKeyStore();
    await loadBootstrapKeys(bootstrap, parseBootstrapKeys('dev-key-0123456789ab:owner-1'));
    const authenticate = createAuthenticator([apiKeyResolver([bootstrap])]);
    const valid = { apiKey: 'dev-key-0123456789ab' };
    expect(await authenticate({ headers: {}, connectionParams: valid })).toMatchObject({
      ownerId: 'owner-1',
      credential: 'api-key',
    });
    const refused: (Record<string, string> | null)[] = [
      { apiKey: 'dev-key-0123456789ac' },
      { apiKey: 'short' },
      { apikey: 'dev-key-0123456789ab' },
      {},
      null,
    ];
    for (const connectionParams of refused) {
      expect(await authenticate({ headers: {}, connectionParams })).toBeNull();
    }
    // A wrong header is not rescued by a right parameter, nor a right header spoilt by a wrong one.
    expect(
      await authenticate({
        headers: { 'x-api-key': 'dev-key-0123456789ac' },
        connectionParams: valid,
      }),
    ).toBeNull();
    expect(
      await authenticate({
        headers: { 'x-api-key': 'dev-key-0123456789ab' },
        connectionParams: { apiKey: 'wrong-key-0123456789' },
      }),
    ).not.toBeNull();
  });

  it('never lets a valid credential outvote an invalid one from another scheme', async () => {
    const store = new MemoryApiKeyStore();
    const { key } = await createApiKey(store, { ownerId: 'owner-1' });
    const rejectingCookie: CredentialResolver = {
      resolve: async ({ headers }) =>
        headers.cookie ? { status: 'invalid' } : { status: 'absent' },
    };
    const authenticate = createAuthenticator([apiKeyResolver([store]), rejectingCookie]);
    expect(await authenticate({ headers: { 'x-api-key': key } })).not.toBeNull();
    expect(
      await authenticate({ headers: { 'x-api-key': key, cookie: 'session=forged' } }),
    ).toBeNull();
  });

  it('parses EXECSTREAM_API_KEYS with clear errors that never echo a key', () => {
    expect(parseBootstrapKeys(' k-0123456789abcdef:a , k-0123456789abcdeg:eip155:1:0xAb ')).toEqual(
      [
        { key: 'k-0123456789abcdef', ownerId: 'a' },
        { key: 'k-0123456789abcdeg', ownerId: 'eip155:1:0xAb' },
      ],
    );
    expect(() => parseBootstrapKeys('k-0123456789abcdef')).toThrow(/entry 1: expected key:ownerId/);
    expect(() => parseBootstrapKeys('short:a')).toThrow(/entry 1: the key must be 16/);
    expect(() => parseBootstrapKeys('k-0123456789abcdef:a,k-0123456789abcdef:b')).toThrow(
      /entry 2: the same key appears twice/,
    );
    expect(() => parseBootstrapKeys(' , ')).toThrow(/at least one/);
    try {
      parseBootstrapKeys('secret-key-that-is-long:bad owner');
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-key');
    }
  });
});
