import type { AddressInfo } from 'node:net';
import { createAgUiStreamRoute } from '@execstream/ag-ui';
import type { StreamOptions } from '@execstream/delivery';
import { DemoExecutor } from '@execstream/demo-executor';
import { createExecutionStreamRoute } from '@execstream/sse';
import type { ExecutionStreams } from '@execstream/stream-service';
import { createAppRouter, createStreamRoute } from '@execstream/trpc';
import type { Registry } from 'prom-client';
import { createApp } from './app.ts';
import type { ServerConfig } from './config.ts';
import { createCredentialGuard } from './credentials.ts';
import { createLogger, type Logger } from './logger.ts';
import { ServerMetrics } from './metrics.ts';
import { buildOpenApiDocument } from './openapi/index.ts';
import { agUiRoutes } from './routes/ag-ui.ts';
import { authRoutes } from './routes/auth.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { opsRoutes, startMetricsServer } from './routes/ops.ts';
import { producerRoutes } from './routes/producer.ts';
import { streamRoutes } from './routes/streams.ts';
import { trpcRoutes } from './routes/trpc.ts';
import { isAppNavigation, loadWebApp, sendAppShell, WEB_DIST, webRoutes } from './routes/web.ts';
import { buildAuthentication, openMemoryStores, openRedisStores, type Stores } from './stores.ts';

export interface StartOptions {
  /** Stores to use instead of those the config names (tests share one with their producer). */
  stores?: Stores;
  /** @default a JSON logger at `config.logLevel` */
  logger?: Logger;
  /** The web app's build to serve at `/` (a missing one serves nothing). @default WEB_DIST */
  webRoot?: string;
  /**
   * Where `/metrics` gets its text, given the server's registry (a cluster worker's answers for
   * the whole cluster). @default the server's own registry
   */
  metricsExposition?: (own: Registry) => () => Promise<string>;
}

/** One route of Fastify's table: a method and its URL pattern (`/v1/executions/:operationId/stream`). */
export interface RouteEntry {
  method: string;
  url: string;
}

/** A running server. Disposing it is the graceful shutdown of SIGTERM. */
export interface RunningServer extends AsyncDisposable {
  url: string;
  port: number;
  /** The origin browsers use (`EXECSTREAM_PUBLIC_URL`, else `http://127.0.0.1:<port>`). */
  publicUrl: string;
  /** Where `/metrics` is served when it has a port of its own; `null` when it is at `url`. */
  metricsUrl: string | null;
  streams: ExecutionStreams;
  /** The key minted for `pnpm start` when no keys were configured and the demo is on. */
  devKey: { key: string; ownerId: string } | null;
  executor: DemoExecutor | null;
  /** Whether the web app's build is served at `/`. */
  webApp: boolean;
  /** Fastify's route table: every method and URL pattern registered. */
  routes: readonly RouteEntry[];
  /**
   * Stops accepting connections, ends open streams cleanly so clients resume elsewhere, stops
   * the demo executor (releasing its leases), then closes the stores.
   */
  close(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const stores =
    options.stores ??
    (config.redisUrl
      ? await openRedisStores(
          config.redisUrl,
          (error) => logger.warn({ err: error }, 'Redis connection error'),
          config.tail,
        )
      : openMemoryStores(config.tail));
  const { streams } = stores;
  // The origin browsers use: known from the configuration, or once listening (`PORT=0`).
  let publicOrigin = config.publicUrl;
  const publicOriginOf = () => publicOrigin ?? 'http://127.0.0.1';
  const { authenticate, wallets, devKey } = await buildAuthentication(
    config,
    stores,
    publicOriginOf,
  );
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
    ...(options.metricsExposition ? { exposition: options.metricsExposition } : {}),
    connections: () =>
      new Promise((resolve) => server.getConnections((_error, count) => resolve(count))),
  });

  // What every stream surface shares, one count of open streams per owner among it (CONTRACT §8).
  const streamOptions: StreamOptions = {
    streams,
    pingIntervalMs: config.pingIntervalMs,
    maxBacklogBytes: config.maxBacklogBytes,
    maxLifetimeMs: config.streamMaxLifetimeMs,
    endGraceMs: config.streamEndGraceMs,
    observer: metrics.observer,
    shutdownSignal: shutdown.signal,
    slots: { store: stores.streamSlots, limit: config.maxStreamsPerOwner },
    onUnexpectedError: (error) => logger.error({ err: error }, 'stream failed'),
  };
  const router = createAppRouter({
    ...streamOptions,
    runner: executor ?? undefined,
    maxUnfinishedPerOwner: config.maxUnfinishedPerOwner,
  });
  const sse = createExecutionStreamRoute({ ...streamOptions, retryMs: config.sseRetryMs });
  const agUi = createAgUiStreamRoute({ ...streamOptions, retryMs: config.sseRetryMs });
  const web = loadWebApp(options.webRoot ?? WEB_DIST, { demo: config.demo });
  const app = await createApp({
    logger,
    bodyLimit: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    redis: stores.redis,
    metricsHere: config.metricsPort === null,
    corsOrigins: config.corsOrigins,
    navigation: (req, reply, pathname) => {
      if (!web || !isAppNavigation(req, pathname)) return false;
      sendAppShell(reply, web);
      return true;
    },
  });
  // Every route as registered, for the test that holds /v1/openapi.json to it.
  const routes: RouteEntry[] = [];
  app.addHook('onRoute', ({ method, url }) => {
    for (const one of [method].flat()) routes.push({ method: one, url });
  });
  const corsOrigins = new Set(config.corsOrigins);
  const guard = createCredentialGuard(app, {
    authenticate,
    maxFailures: config.maxFailedAuth,
    windowMs: config.failedAuthWindowMs,
    isAllowedOrigin: (origin) => origin === publicOriginOf() || corsOrigins.has(origin),
  });
  const { principalOf } = guard;
  await app.register(trpcRoutes, {
    router,
    stream: createStreamRoute({ ...streamOptions, router }),
    principalOf,
    maxBodyBytes: config.maxBodyBytes,
    maxBatchSize: config.maxBatchCalls,
    logger,
  });
  await app.register(streamRoutes, { route: sse, principalOf });
  await app.register(producerRoutes, {
    streams,
    principalOf,
    maxUnfinishedPerOwner: config.maxUnfinishedPerOwner,
    appendsPerSecond: config.producerAppendsPerSecond,
    maxBatchEvents: config.producerMaxBatchEvents,
  });
  await app.register(agUiRoutes, { route: agUi, principalOf });
  await authRoutes(app, {
    wallets,
    guard,
    publicOrigin: publicOriginOf,
    sessionTtlMs: config.sessionTtlMs,
    maxChallengesPerMinute: config.maxChallengesPerMinute,
    logger,
  });
  await openApiRoutes(app, {
    document: () =>
      buildOpenApiDocument(router, config, {
        publicUrl: publicOriginOf(),
        metricsHere: config.metricsPort === null,
        webApp: web ? { assets: web.assets !== null } : null,
      }),
  });
  await opsRoutes(app, {
    ready: async () => !shutdown.signal.aborted && (await stores.ping().catch(() => false)),
    metrics: config.metricsPort === null ? metrics : null,
    metricsToken: config.metricsToken,
  });
  if (web) await webRoutes(app, web);
  else logger.info({ dir: WEB_DIST }, 'web app not built: serving the API alone');
  const server = app.server;
  await app.listen({ port: config.port, host: config.host });
  const metricsServer =
    config.metricsPort === null
      ? null
      : await startMetricsServer(metrics, config.metricsToken, config.metricsPort, config.host);
  executor?.start();
  const { port } = server.address() as AddressInfo;
  publicOrigin ??= `http://127.0.0.1:${port}`;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    {
      url,
      port,
      store: config.redisUrl ? 'redis' : 'memory',
      demo: config.demo,
      ...(metricsServer ? { metricsPort: metricsServer.port } : {}),
    },
    'listening',
  );

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      logger.info({}, 'shutting down');
      const closed = app.close();
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
      await metricsServer?.close();
      await stores.close();
      // prom-client's GC metric observes through a process-wide PerformanceObserver that is never
      // disconnected and holds the registry: emptied, it no longer holds this server (through the
      // gauges' collect callbacks) and all its stores for the life of the process.
      metrics.registry.clear();
      logger.info({}, 'stopped');
    })();
    return closing;
  };
  return {
    url,
    port,
    publicUrl: publicOriginOf(),
    metricsUrl: metricsServer
      ? `http://${host.includes(':') ? `[${host}]` : host}:${metricsServer.port}`
      : null,
    streams,
    devKey,
    executor,
    webApp: web !== null,
    routes,
    close,
    [Symbol.asyncDispose]: close,
  };
}
