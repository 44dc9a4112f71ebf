import { startRedisServer } from '@execstream/redis-testing';
import { Redis } from 'ioredis';

/** A store and, on Redis, the client under it; disposing it stops what it started. */
export interface StoreHandle<T> extends AsyncDisposable {
  store: T;
  raw: Redis | null;
}

/**
 * One suite's two stores, for `describe.each`: in memory, and on a redis-server of its own.
 */
export function memoryAndRedis<T>(
  memory: () => T,
  redis: (client: Redis) => T,
): (readonly ['memory' | 'redis', () => Promise<StoreHandle<T>>])[] {
  return [
    ['memory', async () => ({ store: memory(), raw: null, [Symbol.asyncDispose]: async () => {} })],
    [
      'redis',
      async () => {
        const server = await startRedisServer();
        const client = new Redis(server.url);
        return {
          store: redis(client),
          raw: client,
          [Symbol.asyncDispose]: async () => {
            client.disconnect();
            await server.stop();
          },
        };
      },
    ],
  ];
}
