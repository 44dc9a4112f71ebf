import { redisCommand } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../src/index.ts';
import { clusterUrl, openRedisStreams, redisClusterForFile, uniquePrefix } from './support.ts';

const cluster = redisClusterForFile();

describe('Redis Cluster', () => {
  it('keeps every key and the channel of an execution in one hash slot', async () => {
    const { nodes } = await cluster();
    const keys = new RedisKeys(uniquePrefix());
    const port = nodes[0]?.port ?? 0;
    for (const operationId of ['op_a', 'op_01JWZEE2MF30KVRMRX53N88VA4', 'op_x-y_z']) {
      const names = Object.values(keys.execution(operationId));
      const slots = await Promise.all(
        names.map((name) => redisCommand(port, ['CLUSTER', 'KEYSLOT', name])),
      );
      expect(new Set(slots).size).toBe(1);
    }
    const owner = Object.values(keys.owner('alice'));
    owner.push(keys.idempotency('alice', 'k'));
    const slots = await Promise.all(
      owner.map((name) => redisCommand(port, ['CLUSTER', 'KEYSLOT', name])),
    );
    expect(new Set(slots).size).toBe(1);
  });

  it('holds at most one command and one subscriber connection per master, whatever it serves', async () => {
    const { nodes } = await cluster();
    await using streams = await openRedisStreams({
      url: clusterUrl(await cluster()),
      connectionName: 'clustered',
    });
    const subscriptions = [];
    for (let index = 0; index < 60; index++) {
      const { record } = await streams.create({ ownerId: `owner-${index}`, type: 'swap' });
      for (let copy = 0; copy < 5; copy++) {
        subscriptions.push(await streams.subscribe(record.operationId));
      }
    }
    expect(streams.stats().listeners).toBe(300);
    const perNode = await Promise.all(
      nodes.map(async (node) => {
        const list = String(await redisCommand(node.port, ['CLIENT', 'LIST']));
        const mine = list.split('\n').filter((line) => line.includes(' name=clustered'));
        return {
          commands: mine.filter((line) => !line.includes('name=clustered:sub')).length,
          subscribers: mine.filter((line) => line.includes('name=clustered:sub')).length,
        };
      }),
    );
    // 60 streams spread over every master's slots: each master has its subscriber connection.
    expect(perNode).toEqual(nodes.map(() => ({ commands: 1, subscribers: 1 })));
    for (const subscription of subscriptions) subscription.close();
    expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
  });
});
