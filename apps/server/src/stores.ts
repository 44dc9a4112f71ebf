import {
  type ApiKeyStore,
  type Authenticate,
  apiKeyResolver,
  createAuthenticator,
  generateApiKey,
  loadBootstrapKeys,
  MemoryApiKeyStore,
  MemoryWalletSessionStore,
  RedisApiKeyStore,
  RedisWalletSessionStore,
  sharedDevKey,
  type WalletSessionStore,
  WalletSessions,
} from '@execstream/auth';
import { MemoryStreamSlots, type StreamSlots } from '@execstream/delivery';
import { RedisBackend, type RedisClient, RedisStreamSlots } from '@execstream/redis-store';
import {
  createMemoryExecutionStreams,
  createStreamService,
  type ExecutionStreams,
  type TailOptions,
} from '@execstream/stream-service';
import type { ServerConfig } from './config.ts';

/** The stores of one server process and how to reach and close them. */
export interface Stores {
  streams: ExecutionStreams;
  /** Where keys created by `keys create` live (Redis), or this process's memory. */
  apiKeys: ApiKeyStore;
  /** SIWE nonces and wallet sessions: in Redis (every instance sees a logout at once), or memory. */
  walletSessions: WalletSessionStore;
  /** The command connection, for counters every instance shares; `null` on the embedded store. */
  redis: RedisClient | null;
  /** Open streams per owner, counted across instances on Redis (CONTRACT §8). */
  streamSlots: StreamSlots;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The embedded store: everything in this process, nothing to install. */
export function openMemoryStores(tail?: TailOptions): Stores {
  const streams = createMemoryExecutionStreams({ tail });
  return {
    streams,
    apiKeys: new MemoryApiKeyStore(),
    walletSessions: new MemoryWalletSessionStore(),
    redis: null,
    streamSlots: new MemoryStreamSlots(),
    ping: () => streams.ping(),
    close: () => streams.close(),
  };
}

// How long start-up waits for Redis before it gives up with a clear error.
const REDIS_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Redis: the stream service of @execstream/redis-store, with the API keys, nonces and wallet
 * sessions on its command connection, so a process holds two connections (commands, pub/sub) whatever it serves.
 * Every instance on the same Redis shares executions, keys and leases.
 */
export async function openRedisStores(
  url: string,
  onConnectionError: (error: Error) => void,
  tail?: TailOptions,
): Promise<Stores> {
  const backend = await RedisBackend.connect({
    url,
    connectTimeoutMs: REDIS_CONNECT_TIMEOUT_MS,
    onConnectionError,
  });
  const streams = createStreamService(backend, { tail });
  const streamSlots = new RedisStreamSlots(backend.client, {
    onError: (error) => onConnectionError(error as Error),
  });
  return {
    streams,
    apiKeys: new RedisApiKeyStore(backend.client),
    walletSessions: new RedisWalletSessionStore(backend.client),
    redis: backend.client,
    streamSlots,
    ping: () => streams.ping(),
    // Slots first: closing gives back those still held, on the connection the streams close.
    close: async () => {
      await streamSlots.close();
      await streams.close();
    },
  };
}

/**
 * Authentication over the bootstrap keys (kept only in this process, by hash), the shared key
 * store and wallet sessions. An explicit `X-API-KEY` is asked first, so a request carrying a
 * valid key and a valid session cookie acts as the key's owner. Returns the dev key, if any: with
 * no keys configured and the demo on, `pnpm start` must still give a working `curl` command. On
 * Redis the dev key is kept there and survives restarts (every instance on that Redis prints the
 * same one); in memory it lives as long as the process.
 */
export async function buildAuthentication(
  config: ServerConfig,
  stores: Stores,
  publicOrigin: () => string,
): Promise<{
  authenticate: Authenticate;
  wallets: WalletSessions;
  devKey: { key: string; ownerId: string } | null;
}> {
  const bootstrap = new MemoryApiKeyStore();
  let devKey: { key: string; ownerId: string } | null = null;
  if (config.apiKeys) {
    await loadBootstrapKeys(bootstrap, config.apiKeys);
  } else if (config.demo) {
    const key = stores.redis
      ? await sharedDevKey(stores.redis, () => generateApiKey())
      : generateApiKey();
    devKey = { key, ownerId: 'dev' };
    await loadBootstrapKeys(bootstrap, [devKey]);
  }
  if (config.producerKeys) await loadBootstrapKeys(bootstrap, config.producerKeys, 'producer');
  const wallets = new WalletSessions({
    store: stores.walletSessions,
    publicOrigin,
    sessionTtlMs: config.sessionTtlMs,
    rpcUrl: config.rpcUrl,
  });
  const authenticate = createAuthenticator([
    apiKeyResolver([bootstrap, stores.apiKeys]),
    wallets.resolver,
  ]);
  return { authenticate, wallets, devKey };
}
