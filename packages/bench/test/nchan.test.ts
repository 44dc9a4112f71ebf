import { startRedisServer } from '@execstream/redis-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NCHAN_SUBSCRIBE_PATH, type NchanHandle, startNchan } from '../src/nchan.ts';
import { PublisherProcess } from '../src/publisher-client.ts';
import { monotonicMs, SseReader } from '../src/sse-reader.ts';

// The fan-out benchmark's Nchan column, kept from rotting: its generated config starts, and the
// benchmark's own publisher and reader round-trip events through it, resume included.
describe('Nchan in the fan-out benchmark', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let nchan: NchanHandle;
  let publisher: PublisherProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    nchan = await startNchan(redis.url);
    publisher = new PublisherProcess();
  }, 30_000);

  afterAll(async () => {
    await publisher?.[Symbol.asyncDispose]();
    await nchan?.stop();
    await redis?.stop();
  });

  async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('not within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('delivers a published event to an EventSource reader, then resumes from Last-Event-ID', async () => {
    const { ids } = await publisher.ask<'ready'>({
      type: 'setup',
      server: 'nchan',
      executions: 1,
      redisUrl: redis.url,
      port: nchan.port,
    });
    const received: Array<{ round: number; sentAt: number }> = [];
    const reader = new SseReader({
      port: nchan.port,
      path: `${NCHAN_SUBSCRIBE_PATH}${ids[0]}`,
      onEvent: (round, sentAt) => received.push({ round, sentAt }),
    });
    try {
      await until(() => reader.status !== null);
      expect(reader.status).toBe('HTTP/1.1 200 OK');
      await publisher.ask({ type: 'warm', count: 1 });
      await until(() => reader.warmups === 1);

      const { published } = await publisher.ask<'done'>({
        type: 'run',
        rounds: 1,
        ratePerSecond: 10,
      });
      expect(published).toBe(1);
      await until(() => received.length === 1);
      expect(received[0]?.round).toBe(0);
      // Stamped by the publisher's process on the clock this process reads.
      expect(received[0]?.sentAt).toBeLessThan(monotonicMs());
      expect(received[0]?.sentAt).toBeGreaterThan(monotonicMs() - 10_000);
      expect(reader.lastEventId).toMatch(/^\d+:\d+$/);

      // Offline while two more are published: back with Last-Event-ID, it gets just those.
      reader.drop();
      await publisher.ask({ type: 'run', rounds: 2, ratePerSecond: 10 });
      reader.resume();
      await until(() => received.length === 3);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(reader.rounds).toEqual([0, 0, 1]);
    } finally {
      reader.close();
    }
  });
});
