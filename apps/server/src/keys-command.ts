import { parseArgs } from 'node:util';
import { createApiKey, RedisApiKeyStore } from '@execstream/auth';
import { connectRedis, waitUntilReady } from '@execstream/redis-store';

const usageOf = (program: string) => `Manage the API keys kept in Redis (REDIS_URL).

  ${program} create --owner <ownerId> [--label <text>]
  ${program} create --producer <name> [--label <text>]
  ${program} list
  ${program} revoke <keyId>

The key is printed once by create and never stored: only its SHA-256 hash is kept. A producer
key (esp_…) runs executions through /v1/producer/* only, for workers (docs/producers.md).`;

export interface KeysCommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /** How the usage text names the command. @default 'pnpm --filter @execstream/server keys' */
  program?: string;
}

/**
 * `keys create|list|revoke`, the server entry point's second command (`node dist/main.mjs keys`,
 * `pnpm --filter @execstream/server keys` from source): exit code 0 on success, 1 on a failure,
 * 2 on a usage error.
 */
export async function runKeysCommand(argv: string[], io: KeysCommandIo = process): Promise<number> {
  const usage = (code: number, problem?: string): number => {
    const program = io.program ?? 'pnpm --filter @execstream/server keys';
    io.stderr.write(`${problem ? `${problem}\n\n` : ''}${usageOf(program)}\n`);
    return code;
  };
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      owner: { type: 'string' },
      producer: { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) return usage(values.help ? 0 : 2);
  if (!['create', 'list', 'revoke'].includes(command))
    return usage(2, `unknown command ${command}`);
  if (command === 'create' && !values.owner === !values.producer) {
    return usage(2, 'create takes one of --owner or --producer');
  }
  if (command === 'revoke' && !rest[0]) return usage(2, 'the key id to revoke is required');
  const url = io.env.REDIS_URL?.trim();
  if (!url) {
    io.stderr.write(
      'REDIS_URL is required: keys created here are kept in Redis, where every server reads them.\n',
    );
    return 1;
  }
  const redis = connectRedis(url, { connectionName: 'execstream:keys-cli' });
  redis.on('error', () => {});
  try {
    await waitUntilReady(redis, 5_000);
    const store = new RedisApiKeyStore(redis);
    switch (command) {
      case 'create': {
        const { key, record } = await createApiKey(store, {
          ownerId: (values.owner ?? values.producer) as string,
          label: values.label ?? null,
          role: values.producer ? 'producer' : 'user',
        });
        io.stdout.write(`${JSON.stringify({ key, ...record })}\n`);
        return 0;
      }
      case 'list':
        for (const record of await store.list()) {
          io.stdout.write(`${JSON.stringify(record)}\n`);
        }
        return 0;
      default: {
        // revoke: the only command left once the usage checks above have passed.
        const id = rest[0] as string;
        if (await store.revoke(id)) {
          io.stdout.write(`revoked ${id}\n`);
          return 0;
        }
        io.stderr.write(`no key has the id ${id}\n`);
        return 1;
      }
    }
  } finally {
    redis.disconnect();
  }
}
