import { startBanner } from './banner.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';

/** `pnpm start`: the server, configured from the environment, until SIGTERM or SIGINT. */
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
  const server = await startServer(config, { logger });
  process.stderr.write(
    startBanner({
      url: server.url,
      store: config.redisUrl ? 'redis' : 'memory',
      devKey: server.devKey,
      demo: config.demo,
      publicUrl: server.publicUrl,
      corsOrigins: config.corsOrigins,
      webApp: server.webApp,
    }),
  );
  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`execstream failed to start: ${(error as Error).message ?? error}\n`);
  process.exit(1);
});
