import type { OperationId } from '@execstream/event-schema';
import { createStreamService, type ExecutionStreams } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import {
  clusterUrl,
  openRedisBackend,
  redisClusterForFile,
  redisServerForFile,
  uniquePrefix,
} from './support.ts';

const server = redisServerForFile();
const cluster = redisClusterForFile();
const RUNS = 200;

/**
 * Two claimers, each with its own connection (as two processes would be), take runs until none
 * is left: each completes what it claims with appends fenced by its lease, and notes that no one
 * else holds the run meanwhile.
 */
async function race(url: string) {
  const keyPrefix = uniquePrefix();
  const open = async () => createStreamService(await openRedisBackend({ url, keyPrefix }));
  await using one = await open();
  await using two = await open();
  const created: OperationId[] = [];
  for (let index = 0; index < RUNS; index++) {
    const type = index % 2 === 0 ? 'swap' : 'bridge';
    created.push((await one.create({ ownerId: `owner-${index % 7}`, type })).record.operationId);
  }
  const holding = new Set<OperationId>();
  const doubleHeld: OperationId[] = [];
  const claimedBy = new Map<OperationId, string>();
  const claimer = async (name: string, streams: ExecutionStreams) => {
    for (;;) {
      const claim = await streams.claim({ leaseMs: 60_000 });
      if (!claim) return;
      const { operationId } = claim.record;
      if (holding.has(operationId)) doubleHeld.push(operationId);
      holding.add(operationId);
      claimedBy.set(operationId, claimedBy.has(operationId) ? 'twice' : name);
      const leaseToken = claim.lease.token;
      await streams.appendBatch(
        operationId,
        [{ kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } }],
        { leaseToken },
      );
      // Yield while holding it, so the other claimer runs meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
      holding.delete(operationId);
      await streams.appendBatch(
        operationId,
        [
          { kind: 'execution.result', payload: { output: { by: name } } },
          { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
        ],
        { leaseToken },
      );
    }
  };
  await Promise.all([claimer('one', one), claimer('two', two)]);
  expect(doubleHeld).toEqual([]);
  expect([...claimedBy.keys()].sort()).toEqual([...created].sort());
  expect([...claimedBy.values()].filter((by) => by === 'twice')).toEqual([]);
  // Both took part, and every run ended once, by the one that claimed it.
  const counts = [...claimedBy.values()].reduce(
    (tally, by) => tally.set(by, (tally.get(by) ?? 0) + 1),
    new Map<string, number>(),
  );
  expect(counts.get('one')).toBeGreaterThan(0);
  expect(counts.get('two')).toBeGreaterThan(0);
  for (const operationId of created) {
    const snapshot = await one.getSnapshot(operationId);
    expect(snapshot).toMatchObject({
      status: 'completed',
      sequence: 4,
      result: { output: { by: claimedBy.get(operationId) } },
    });
  }
  expect(await one.claim({ leaseMs: 1000 })).toBeNull();
}

describe('two claimers racing for 200 runs', () => {
  it('on Redis: every run held by exactly one at a time, completed once', async () => {
    await race((await server()).url);
  });

  it('on a Redis Cluster: the same', async () => {
    await race(clusterUrl(await cluster()));
  });
});

/**
 * A claim waiting in one process hears of another's create and release at once: with the poll
 * pushed past the wait, only the claimable channel can wake it before the wait ends (null).
 */
async function wakeUps(url: string) {
  const keyPrefix = uniquePrefix();
  const open = async () =>
    createStreamService(await openRedisBackend({ url, keyPrefix }), { claimPollMs: 600_000 });
  await using here = await open();
  await using there = await open();
  const waiting = here.claim({ leaseMs: 60_000, waitMs: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const { record } = await there.create({ ownerId: 'o', type: 'swap' });
  const claimed = await waiting;
  expect(claimed?.record.operationId).toBe(record.operationId);
  const second = here.claim({ leaseMs: 60_000, waitMs: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const other = await there.create({ ownerId: 'o', type: 'bridge' });
  expect((await second)?.record.operationId).toBe(other.record.operationId);
  // Released there, claimed here at once.
  const third = there.claim({ leaseMs: 60_000, waitMs: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await here.release(record.operationId, claimed?.lease.token as string);
  expect((await third)?.record.operationId).toBe(record.operationId);
}

describe('a claim waiting in another process', () => {
  it('on Redis: wakes on a create or a release there', async () => {
    await wakeUps((await server()).url);
  });

  it('on a Redis Cluster: the same', async () => {
    await wakeUps(clusterUrl(await cluster()));
  });
});
