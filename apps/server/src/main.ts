import { startBanner } from './banner.ts';
import { ConfigError, loadConfig } from './config.ts';
import { runKeysCommand } from './keys-command.ts';
import { createLogger } from './logger.ts';
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
