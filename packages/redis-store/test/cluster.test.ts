import { type RedisClusterNode, redisCommand } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../src/index.ts';
import {
  clusterUrl,
  eventually,
  expectGapless,
  history,
  openRedisStreams,
  reader,
  redisClusterForFile,
  uniquePrefix,
} from './support.ts';

const cluster = redisClusterForFile();

/** Moves a hash slot and its keys from one master to another, as resharding does. */
async function moveSlot(nodes: RedisClusterNode[], slot: number, from: number, to: number) {
  const idOf = async (port: number) => String(await redisCommand(port, ['CLUSTER', 'MYID']));
  const [fromId, toId] = await Promise.all([idOf(from), idOf(to)]);
  await redisCommand(to, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId]);
  await redisCommand(from, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId]);
  for (;;) {
    const keys = (await redisCommand(from, [
      'CLUSTER',
      'GETKEYSINSLOT',
      String(slot),
      '100',
    ])) as string[];
    if (keys.length === 0) break;
    await redisCommand(from, [
      'MIGRATE',
      '127.0.0.1',
      String(to),
      '',
      '0',
      '5000',
      'KEYS',
      ...keys,
    ]);
  }
  // The new owner first, then the old one, then the rest (as redis-cli --cluster reshard does).
  const order = [
    to,
    from,
    ...nodes.map((node) => node.port).filter((port) => port !== to && port !== from),
  ];
  for (const port of order) {
    await redisCommand(port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]);
  }
}

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

  it('follows a stream whose slot moves to another master while it is subscribed', async () => {
    const { nodes } = await cluster();
    const url = clusterUrl(await cluster());
    const keyPrefix = uniquePrefix();
    // Two processes' worth of service: one reads, the other writes, so the reader can only learn
    // of the move from the cluster itself.
    await using readerSide = await openRedisStreams({ url, keyPrefix });
    await using writerSide = await openRedisStreams({ url, keyPrefix });
    const { record } = await writerSide.create({ ownerId: 'o', type: 'bridge' });
    const { operationId } = record;
    const timeline = (message: string) => [
      { kind: 'execution.timeline_appended' as const, payload: { message } },
    ];
    await writerSide.append(operationId, [
      { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
    ]);
    const read = reader(await readerSide.subscribe(operationId));
    await writerSide.append(operationId, timeline('before the move'));
    await eventually(async () => read.events.length === 2);

    const keys = new RedisKeys(keyPrefix).execution(operationId);
    const slot = Number(
      await redisCommand(nodes[0]?.port ?? 0, ['CLUSTER', 'KEYSLOT', keys.state]),
    );
    const counts = await Promise.all(
      nodes.map((node) => redisCommand(node.port, ['CLUSTER', 'COUNTKEYSINSLOT', String(slot)])),
    );
    const from = nodes[counts.findIndex((count) => Number(count) > 0)]?.port ?? 0;
    const to = nodes.find((node) => node.port !== from)?.port ?? 0;
    await moveSlot(nodes, slot, from, to);

    for (let index = 0; index < 3; index++) {
      await writerSide.append(operationId, timeline(`after the move ${index}`));
    }
    await writerSide.append(operationId, [
      { kind: 'execution.result', payload: { output: { moved: true } } },
      { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
    ]);
    // Without following the move the reader would wait forever: nobody would notify it.
    expectGapless(await read.done, await history(writerSide, operationId), 0);
  });
});
