import type { OperationId } from '@execstream/event-schema';
import { type RedisServerHandle, redisCommand } from '@execstream/redis-testing';
import type { ExecutionStreams, ExecutionSubscription } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../src/index.ts';
import { eventually, openRedisStreams, redisServerForFile, uniquePrefix } from './support.ts';

const server = redisServerForFile();

/** The connections Redis sees under this client name (`CLIENT LIST`), by kind. */
async function connectionsNamed(redis: RedisServerHandle, name: string) {
  const list = String(await redisCommand(redis.port, ['CLIENT', 'LIST']));
  const mine = list.split('\n').filter((line) => line.includes(` name=${name}`));
  return {
    total: mine.length,
    subscribers: mine.filter((line) => / name=\S+:sub /.test(line)).length,
  };
}

async function subscribers(streams: ExecutionStreams, operationIds: OperationId[], each: number) {
  const all: ExecutionSubscription[] = [];
  for (const operationId of operationIds) {
    const batch = await Promise.all(
      Array.from({ length: each }, () => streams.subscribe(operationId)),
    );
    all.push(...batch);
  }
  return all;
}

/** Starts reading: resolves with each subscription's events once `count` have arrived. */
function readEach(subscriptions: ExecutionSubscription[], count: number) {
  return Promise.all(
    subscriptions.map(async (subscription) => {
      const kinds: string[] = [];
      for await (const envelope of subscription) {
        kinds.push(envelope.kind);
        if (kinds.length === count) break;
      }
      return kinds;
    }),
  );
}

describe('connections per process', () => {
  it('opens 1,000 streams at once on a fresh process with one wait for the subscriber connection', async () => {
    const redis = await server();
    await using streams = await openRedisStreams({ url: redis.url, connectionName: 'burst' });
    const operationIds: OperationId[] = [];
    for (let index = 0; index < 1_000; index++) {
      operationIds.push((await streams.create({ ownerId: 'o', type: 'swap' })).record.operationId);
    }
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      // All of them before the subscriber connection is ready: a wait each added its own
      // listeners to that connection (MaxListenersExceededWarning past 10).
      const all = await Promise.all(operationIds.map((id) => streams.subscribe(id)));
      expect(streams.stats()).toEqual({ subscriptions: 1_000, listeners: 1_000 });
      for (const subscription of all) subscription.close();
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('holds one command connection until something subscribes', async () => {
    const redis = await server();
    await using streams = await openRedisStreams({ url: redis.url, connectionName: 'idle' });
    await streams.create({ ownerId: 'o', type: 'swap' });
    expect(await connectionsNamed(redis, 'idle')).toEqual({ total: 1, subscribers: 0 });
  });

  it('holds two connections with 1 subscriber and with 10,000 subscribers on 1,000 streams', async () => {
    const redis = await server();
    const keys = new RedisKeys(uniquePrefix());
    await using streams = await openRedisStreams({
      url: redis.url,
      connectionName: 'fanout',
      keyPrefix: keys.prefix,
    });
    const operationIds: OperationId[] = [];
    for (let index = 0; index < 1_000; index++) {
      operationIds.push((await streams.create({ ownerId: 'o', type: 'swap' })).record.operationId);
    }

    const [one] = await subscribers(streams, operationIds.slice(0, 1), 1);
    expect(await connectionsNamed(redis, 'fanout')).toEqual({ total: 2, subscribers: 1 });
    one?.close();

    const all = await subscribers(streams, operationIds, 10);
    expect(streams.stats()).toEqual({ subscriptions: 10_000, listeners: 10_000 });
    expect(await connectionsNamed(redis, 'fanout')).toEqual({ total: 2, subscribers: 1 });
    // One subscription per stream, not per subscriber.
    const counts = (await redisCommand(redis.port, [
      'PUBSUB',
      'SHARDNUMSUB',
      ...operationIds.slice(0, 50).map((id) => keys.execution(id).channel),
    ])) as (string | number)[];
    expect(counts.filter((_, index) => index % 2 === 1)).toEqual(Array(50).fill(1));

    // Each subscriber gets its snapshot, then the live event: one message per stream reaches
    // its ten local subscribers.
    const reading = readEach(all, 2);
    await Promise.all(
      operationIds.map((operationId) =>
        streams.append(operationId, [{ kind: 'execution.progress', payload: { percent: 50 } }]),
      ),
    );
    const received = await reading;
    expect(
      received.every((kinds) => kinds.join() === 'execution.snapshot,execution.progress'),
    ).toBe(true);

    // Everything was released: no listener left, every stream unsubscribed.
    expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    await eventually(async () => {
      const channels = await redisCommand(redis.port, ['PUBSUB', 'SHARDCHANNELS']);
      return Array.isArray(channels) && channels.length === 0;
    });
  });
});
