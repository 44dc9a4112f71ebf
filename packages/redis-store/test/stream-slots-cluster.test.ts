import { redisCommand } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../src/index.ts';
import { describeStreamSlots } from './stream-slots-suite.ts';
import { clusterUrl, redisClusterForFile, uniquePrefix } from './support.ts';

const cluster = redisClusterForFile();

describeStreamSlots('Redis Cluster', async () => clusterUrl(await cluster()));

describe('open-stream slots on Redis Cluster', () => {
  it('live in the hash slot of their owner', async () => {
    const { nodes } = await cluster();
    const keys = new RedisKeys(uniquePrefix());
    const names = [...Object.values(keys.owner('alice')), keys.streamSlots('alice')];
    const slots = await Promise.all(
      names.map((name) => redisCommand(nodes[0]?.port ?? 0, ['CLUSTER', 'KEYSLOT', name])),
    );
    expect(new Set(slots).size).toBe(1);
  });
});
