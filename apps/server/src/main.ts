import cluster from 'node:cluster';
import type { Registry } from 'prom-client';
import { startBanner } from './banner.ts';
import { clusterWorker, startPrimary, type WorkerStarted } from './cluster.ts';
import { ConfigError, loadConfig } from './config.ts';
import { runKeysCommand } from './keys-command.ts';
import { createLogger, type Logger } from './logger.ts';
import { startServer } from './server.ts';

/**
 * `pnpm start` (or `node dist/main.mjs`): the server, configured from the environment, until
 * SIGTERM or SIGINT. `… keys …` runs the keys command instead.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  const banner = (started: WorkerStarted) =>
    process.stderr.write(
      startBanner({
        ...started,
        store: config.redisUrl ? 'redis' : 'memory',
        demo: config.demo,
        corsOrigins: config.corsOrigins,
        workers: config.workers,
      }),
    );
  if (config.workers > 1 && cluster.isPrimary) {
    const primary = await startPrimary(config, logger);
    banner(primary.started);
    onStopSignal(logger, () => primary.close());
    return;
  }
  const worker = clusterWorker();
  const log = worker ? logger.child({ worker: worker.id }) : logger;
  const server = await startServer(config, {
    logger: log,
    ...(worker ? { metricsExposition: (own: Registry) => worker.metrics(own) } : {}),
  });
  const { url, publicUrl, devKey, webApp } = server;
  if (worker) worker.listening({ url, publicUrl, devKey, webApp });
  else banner({ url, publicUrl, devKey, webApp });
  onStopSignal(log, () => server.close().then(() => 0));
}

/**
 * SIGTERM or SIGINT: `stop`, then exit with its code (1 if it failed). Later signals change
 * nothing: a worker may hear one signal twice (from its primary, and from whatever signalled the
 * whole process group, as a terminal's Ctrl-C or systemd do), and the stop is already bounded
 * by the shutdown grace.
 */
function onStopSignal(logger: Logger, stop: () => Promise<number>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'signal received');
    if (stopping) return;
    stopping = true;
    stop().then(
      (code) => process.exit(code),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** `… keys create|list|revoke`: the keys command, from this same entry point. */
function keys(argv: string[]): void {
  // As it is run: from source with pnpm, or the production build with plain node.
  const program = import.meta.url.endsWith('.ts')
    ? 'pnpm --filter @execstream/server keys'
    : 'node dist/main.mjs keys';
  const { stdout, stderr, env } = process;
  runKeysCommand(argv, { stdout, stderr, env, program }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`keys: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'keys') keys(rest);
else {
  main().catch((error: unknown) => {
    process.stderr.write(`execstream failed to start: ${(error as Error).message ?? error}\n`);
    process.exit(1);
  });
}
