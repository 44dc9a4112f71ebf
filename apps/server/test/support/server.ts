import { startRedisServer } from '@execstream/redis-testing';
import { pino } from 'pino';
import {
  loadConfig,
  openRedisStores,
  type RunningServer,
  type StartOptions,
  startServer,
} from '../../src/index.ts';

export const OWNER_A = { key: 'test-key-owner-a-0000001', ownerId: 'owner-a' } as const;
export const OWNER_B = { key: 'test-key-owner-b-0000001', ownerId: 'owner-b' } as const;
/** The producer key every test server accepts on /v1/producer/* (CONTRACT §12). */
export const PRODUCER = { key: 'test-producer-key-000001', name: 'workers' } as const;

/** A real server on a free loopback port, demo off, two owners' keys and a producer key, quiet logs. */
export function startTestServer(
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = loadConfig({
    PORT: '0',
    EXECSTREAM_DEMO: 'off',
    EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId},${OWNER_B.key}:${OWNER_B.ownerId}`,
    EXECSTREAM_PRODUCER_KEYS: `${PRODUCER.key}:${PRODUCER.name}`,
    LOG_LEVEL: 'silent',
    ...env,
  });
  return startServer(config, { logger: pino({ level: 'silent' }), ...options });
}

/** A test server on the embedded store, or on a redis-server of its own that it stops too. */
export async function startServerOn(
  backend: 'memory' | 'redis',
  env: Record<string, string> = {},
): Promise<RunningServer & { redisUrl: string | null }> {
  if (backend === 'memory') return { ...(await startTestServer(env)), redisUrl: null };
  const redis = await startRedisServer();
  const stores = await openRedisStores(redis.url, () => {});
  const server = await startTestServer(env, { stores });
  const close = async () => {
    await server.close();
    await redis.stop();
  };
  return { ...server, redisUrl: redis.url, close, [Symbol.asyncDispose]: close };
}

/** Two instances on one Redis, as a deployment runs them; disposing stops both, then Redis. */
export async function twoInstances(env: Record<string, string> = {}) {
  const redis = await startRedisServer();
  const servers: RunningServer[] = [];
  for (let index = 0; index < 2; index++) {
    const stores = await openRedisStores(redis.url, () => {});
    servers.push(await startTestServer(env, { stores }));
  }
  const [one, two] = servers as [RunningServer, RunningServer];
  return {
    one,
    two,
    async [Symbol.asyncDispose]() {
      await Promise.all(servers.map((server) => server.close()));
      await redis.stop();
    },
  };
}
