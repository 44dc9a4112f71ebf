import { StoreUnavailableError } from '@execstream/stream-service';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** A standalone Redis or a Redis Cluster; the backend works the same on both. */
export type RedisClient = Redis | Cluster;

export interface ConnectOptions {
  /**
   * How long to wait for a TCP connection (per node) before it counts as failed.
   * @default 5_000
   */
  connectTimeoutMs?: number;
  /**
   * How long one command may take before it fails with `StoreUnavailableError` (a server that
   * hangs must not hang its callers).
   * @default 5_000
   */
  commandTimeoutMs?: number;
  /**
   * The `CLIENT SETNAME` of every connection, so `CLIENT LIST` shows whose they are; the
   * subscriber connections add `:sub`.
   * @default 'execstream'
   */
  connectionName?: string;
}

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

/** Where `REDIS_URL` points: one server, or the seed nodes of a cluster. */
export type RedisTarget =
  | { kind: 'standalone'; url: string }
  | {
      kind: 'cluster';
      nodes: ClusterNodeAddress[];
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;

/**
 * Reads a Redis URL:
 * - `redis://[user:pass@]host:port[/db]` and `rediss://…` (TLS): one server;
 * - `redis+cluster://[user:pass@]host:port,host:port,…` and `rediss+cluster://…`: a Redis
 *   Cluster, given by one or more seed nodes (the rest are discovered).
 */
export function parseRedisUrl(url: string): RedisTarget {
  const cluster = CLUSTER_SCHEME.exec(url);
  if (cluster) {
    const [, scheme, auth, hosts] = cluster as unknown as [
      string,
      string,
      string | undefined,
      string,
    ];
    const nodes = hosts.split(',').map((hostPort) => {
      const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hostPort);
      if (!match) throw new TypeError(`Redis cluster node must be host:port, got ${hostPort}`);
      return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port: Number(match[2]) };
    });
    const target: RedisTarget = { kind: 'cluster', nodes, tls: scheme === 'rediss' };
    if (auth) {
      const colon = auth.indexOf(':');
      const user = decodeURIComponent(colon === -1 ? '' : auth.slice(0, colon));
      const password = decodeURIComponent(colon === -1 ? auth : auth.slice(colon + 1));
      if (user) target.username = user;
      if (password) target.password = password;
    }
    return target;
  }
  if (!/^rediss?:\/\//.test(url)) {
    throw new TypeError(
      'REDIS_URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster://',
    );
  }
  return { kind: 'standalone', url };
}

/** How often a cluster client re-reads the slot map (`CLUSTER SLOTS`). */
const SLOTS_REFRESH_MS = 5_000;

// Reconnect forever with a capped backoff: a store that comes back must be used again without a
// restart. Commands never wait for it (see `failFast`), so this costs callers nothing.
function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1_000);
}

/**
 * Options every execstream connection shares: commands fail at once while the connection is down
 * (no offline queue, no replay of in-flight commands after a reconnect), so an append either
 * reaches Redis now or fails with `StoreUnavailableError`, never later behind the caller's back.
 */
function failFast(options: ConnectOptions, suffix = ''): RedisOptions {
  return {
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    commandTimeout: options.commandTimeoutMs ?? 5_000,
    connectionName: `${options.connectionName ?? 'execstream'}${suffix}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  };
}

/**
 * Opens the command connection(s) for a Redis URL (see `parseRedisUrl`). The client starts
 * connecting at once; `waitUntilReady` tells when it can take commands.
 */
export function connectRedis(url: string, options: ConnectOptions = {}): RedisClient {
  const target = parseRedisUrl(url);
  if (target.kind === 'standalone') {
    return new Redis(url, { ...failFast(options), retryStrategy: reconnectDelay });
  }
  const { enableOfflineQueue: _queue, ...nodeOptions } = failFast(options);
  const clusterOptions: ClusterOptions = {
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelay,
    // Commands follow MOVED on their own, but subscriptions only learn that a slot moved from a
    // fresh slot map: re-read it regularly so live notifications follow resharding and failover.
    slotsRefreshInterval: SLOTS_REFRESH_MS,
    redisOptions: {
      ...nodeOptions,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  };
  return new Cluster(target.nodes, clusterOptions);
}

/**
 * A connection for (S)SUBSCRIBE: one per standalone server, one per cluster master. Fail-fast
 * like the command connection, and without ioredis' automatic resubscription: the live hub
 * resubscribes itself so that it knows when the subscription is back and can tell listeners to
 * catch up from the stream.
 */
export function connectSubscriber(
  client: RedisClient,
  node: ClusterNodeAddress | null,
  options: ConnectOptions,
): Redis {
  const overrides: RedisOptions = {
    ...failFast(options, ':sub'),
    autoResubscribe: false,
    retryStrategy: reconnectDelay,
  };
  if (client instanceof Redis) return client.duplicate(overrides);
  if (!node) throw new TypeError('a cluster subscriber needs the node it subscribes on');
  return new Redis({
    ...client.options.redisOptions,
    ...overrides,
    host: node.host,
    port: node.port,
  });
}

/** Resolves once the client takes commands; `StoreUnavailableError` after `timeoutMs`. */
export function waitUntilReady(client: RedisClient | Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: unknown;
    const onError = (error: unknown) => {
      lastError = error;
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new StoreUnavailableError(
          `Redis did not become ready within ${timeoutMs} ms${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
          { cause: lastError },
        ),
      );
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(new StoreUnavailableError('The Redis connection was closed', { cause: lastError }));
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('end', onEnd);
    };
    client.on('ready', onReady);
    client.on('error', onError);
    client.on('end', onEnd);
  });
}
