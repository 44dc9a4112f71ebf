import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import {
  MEMORY_SESSION_STORE_LIMITS,
  MemoryWalletSessionStore,
  RedisWalletSessionStore,
  SESSION_COOKIE,
  sha256Hex,
  type WalletSessionStore,
  WalletSessions,
} from '../src/index.ts';
import { memoryAndRedis } from './stores.ts';

const ORIGIN = 'https://api.example.com';

describe.each(
  memoryAndRedis<WalletSessionStore>(
    () => new MemoryWalletSessionStore(),
    (client) => new RedisWalletSessionStore(client),
  ),
)('the %s wallet session store', (_name, open) => {
  it('gives a nonce to exactly one of many concurrent verifications', async () => {
    await using handle = await open();
    const wallets = new WalletSessions({
      store: handle.store,
      publicOrigin: () => ORIGIN,
      sessionTtlMs: 60_000,
    });
    const account = privateKeyToAccount(generatePrivateKey());
    const { message } = await wallets.challenge({ address: account.address, chainId: 1 });
    const signature = await account.signMessage({ message });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => wallets.verify({ message, signature })),
    );
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect(
      outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason.code] : [])),
    ).toEqual(Array(9).fill('SIWE_NONCE_INVALID'));

    // The session is kept by its token's hash; the resolver reads the cookie.
    const { token, session } = (
      won[0] as PromiseFulfilledResult<{ token: string; session: { id: string } }>
    ).value;
    expect(await handle.store.lookupSession(sha256Hex(token))).toMatchObject({ id: session.id });
    const cookies = (value: string[]) => ({ headers: {}, cookies: () => value });
    expect(await wallets.resolver.resolve(cookies([token]))).toMatchObject({
      status: 'valid',
      principal: {
        ownerId: `wallet:${account.address.toLowerCase()}`,
        credential: 'wallet-session',
      },
    });
    expect(await wallets.resolver.resolve(cookies([]))).toEqual({ status: 'absent' });
    expect(await wallets.resolver.resolve(cookies([token, token]))).toEqual({ status: 'invalid' });
    expect(await wallets.logout(token)).toBe(true);
    expect(await wallets.logout(token)).toBe(false);
    expect(await wallets.resolver.resolve(cookies([token]))).toEqual({ status: 'invalid' });
    expect(SESSION_COOKIE).toBe('execstream_session');
  });

  it('forgets nonces and sessions when their TTL ends', async () => {
    await using handle = await open();
    const { store } = handle;
    await store.putNonce('abcdefgh1', { address: '0xab', chainId: 1 }, 50);
    await store.putSession(
      'hash',
      {
        id: 'ses_x',
        ownerId: 'wallet:0xab',
        address: '0xab',
        chainId: 1,
        createdAt: '',
        expiresAt: '',
      },
      50,
    );
    expect(await store.peekNonce('abcdefgh1')).toEqual({ address: '0xab', chainId: 1 });
    const deadline = Date.now() + 5000;
    const held = async () =>
      (await store.peekNonce('abcdefgh1')) !== null || (await store.lookupSession('hash')) !== null;
    while ((await held()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await store.takeNonce('abcdefgh1')).toBeNull();
    expect(await store.lookupSession('hash')).toBeNull();
  });
});

describe('the memory wallet session store', () => {
  it('holds at most its bound of nonces, dropping the oldest', async () => {
    const store = new MemoryWalletSessionStore();
    const record = { address: '0xab', chainId: 1 };
    for (let index = 0; index <= MEMORY_SESSION_STORE_LIMITS.nonces; index++) {
      await store.putNonce(`nonce${index}`, record, 60_000);
    }
    expect(await store.peekNonce('nonce0')).toBeNull();
    expect(await store.peekNonce('nonce1')).toEqual(record);
    expect(await store.peekNonce(`nonce${MEMORY_SESSION_STORE_LIMITS.nonces}`)).toEqual(record);
  });
});
