import { redisCommand } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { connectRedis, RedisKeys, RedisStreamSlots, waitUntilReady } from '../src/index.ts';
import { describeStreamSlots } from './stream-slots-suite.ts';
import { redisServerForFile, uniquePrefix } from './support.ts';

const server = redisServerForFile();

describeStreamSlots('Redis', async () => (await server()).url);

describe('open-stream slot keys', () => {
  it('are one sorted set per owner: slot ids scored by expiry in Redis time, expiring with the latest', async () => {
    const redis = await server();
    const client = connectRedis(redis.url);
    await waitUntilReady(client, 20_000);
    const keys = new RedisKeys(uniquePrefix());
    const slots = new RedisStreamSlots(client, {
      keyPrefix: keys.prefix,
      ttlMs: 30_000,
      instanceId: 'host-1',
    });
    try {
      await slots.acquire('a}b:{c', 5);
      await slots.acquire('a}b:{c', 5);
      const key = keys.streamSlots('a}b:{c');
      expect(key).toBe(`${keys.prefix}:{owner:a%7Db%3A%7Bc}:stream-slots`);
      const call = (...args: string[]) => redisCommand(redis.port, args);
      expect(await call('TYPE', key)).toBe('zset');
      const [seconds, micros] = (await call('TIME')) as [string, string];
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const stored = (await call('ZRANGE', key, '0', '-1', 'WITHSCORES')) as string[];
      expect(stored.filter((_, index) => index % 2 === 0)).toEqual(['host-1:1', 'host-1:2']);
      for (const score of stored.filter((_, index) => index % 2 === 1)) {
        expect(Number(score) - now).toBeGreaterThan(25_000);
        expect(Number(score) - now).toBeLessThanOrEqual(30_000);
      }
      expect(Number(await call('PEXPIRETIME', key))).toBe(Number(stored[3]));
    } finally {
      await slots.close();
      client.disconnect();
    }
  });

  it('refuses a TTL too short to renew', () => {
    const client = connectRedis('redis://127.0.0.1:1', { connectTimeoutMs: 10 });
    client.on('error', () => {});
    try {
      expect(() => new RedisStreamSlots(client, { ttlMs: 100 })).toThrow(RangeError);
    } finally {
      client.disconnect();
    }
  });
});
