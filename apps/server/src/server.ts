import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DemoExecutor } from '@execstream/demo-executor';
import { createExecutionStreamRoute } from '@execstream/sse';
import type { ExecutionStreams } from '@execstream/stream-service';
import { createAppRouter, createContextFactory } from '@execstream/trpc';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { createApp, TRPC_BASE_PATH } from './app.ts';
import { answerClientErrors } from './client-error.ts';
import type { ServerConfig } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { ServerMetrics } from './metrics.ts';
import { buildAuthentication, openMemoryStores, openRedisStores, type Stores } from './stores.ts';

export interface StartOptions {
  /** Stores to use instead of those the config names (tests share one with their producer). */
  stores?: Stores;
  /** @default a JSON logger at `config.logLevel` */
  logger?: Logger;
}

/** A running server. Disposing it is the graceful shutdown of SIGTERM. */
export interface RunningServer extends AsyncDisposable {
  url: string;
  port: number;
  streams: ExecutionStreams;
  /** The key minted for `pnpm start` when no keys were configured and the demo is on. */
  devKey: { key: string; ownerId: string } | null;
  executor: DemoExecutor | null;
  /**
   * Stops accepting connections, ends open streams cleanly so clients resume elsewhere, stops
   * the demo executor (releasing its leases), then closes the stores.
   */
  close(): Promise<void>;
}

// A body larger than any valid input (the biggest is `submit`'s params) is refused unread.
const MAX_BODY_BYTES = 256 * 1024;

export async function startServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const stores =
    options.stores ??
    (config.redisUrl
      ? await openRedisStores(config.redisUrl, (error) =>
          logger.warn({ err: error }, 'Redis connection error'),
        )
      : openMemoryStores());
  const { streams } = stores;
  const { authenticate, devKey } = await buildAuthentication(config, stores);
  const shutdown = new AbortController();

  const executor = config.demo
    ? new DemoExecutor({
        streams,
        leaseTtlMs: config.leaseTtlMs,
        logger: logger.child({ component: 'demo-executor' }),
      })
    : null;
  const metrics = new ServerMetrics({
    ...(executor ? { demoRuns: () => executor.activeRuns } : {}),
    connections: () =>
      new Promise((resolve) => server.getConnections((_error, count) => resolve(count))),
  });

  const router = createAppRouter({
    streams,
    runner: executor ?? undefined,
    maxBacklogBytes: config.maxBacklogBytes,
    pingIntervalMs: config.pingIntervalMs,
    maxLifetimeMs: config.streamMaxLifetimeMs,
    endGraceMs: config.streamEndGraceMs,
    observer: metrics.observer,
    shutdownSignal: shutdown.signal,
  });
  const trpc = createHTTPHandler({
    router,
    basePath: `${TRPC_BASE_PATH}/`,
    createContext: createContextFactory(authenticate),
    maxBodySize: MAX_BODY_BYTES,
    onError({ error, path }) {
      if (error.code === 'INTERNAL_SERVER_ERROR') {
        logger.error({ err: error.cause ?? error, path }, 'tRPC procedure failed');
      }
    },
  });
  const sse = createExecutionStreamRoute({
    streams,
    authenticate,
    retryMs: config.sseRetryMs,
    pingIntervalMs: config.pingIntervalMs,
    maxBacklogBytes: config.maxBacklogBytes,
    maxLifetimeMs: config.streamMaxLifetimeMs,
    endGraceMs: config.streamEndGraceMs,
    observer: metrics.observer,
    shutdownSignal: shutdown.signal,
    onUnexpectedError: (error) => logger.error({ err: error }, 'stream failed'),
  });
  const server = createServer(
    createApp({
      trpc,
      sse,
      metrics,
      logger,
      ready: async () => !shutdown.signal.aborted && (await stores.ping().catch(() => false)),
    }),
  );
  answerClientErrors(server, logger);
  await listen(server, config.port, config.host);
  executor?.start();
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    { url, port, store: config.redisUrl ? 'redis' : 'memory', demo: config.demo },
    'listening',
  );

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      logger.info({}, 'shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdown.abort();
      await executor?.stop();
      // Ended streams leave keep-alive connections idle a moment later: close them as they go
      // idle, and whatever is still open after the grace period.
      const sweeper = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
      await closed;
      clearInterval(sweeper);
      clearTimeout(grace);
      await stores.close();
      logger.info({}, 'stopped');
    })();
    return closing;
  };
  return {
    url,
    port,
    streams,
    devKey,
    executor,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
