import {
  type EventDraft,
  foldExecution,
  initialSnapshot,
  type OperationId,
} from '@execstream/event-schema';
import { redisCommand, startRedisServer } from '@execstream/redis-testing';
import { type ExecutionStreams, StoreUnavailableError } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { eventually, expectGapless, history, openRedisStreams, reader } from './support.ts';

/** Three subscriptions per execution, one for each way of starting (snapshot, 0, a cursor). */
async function subscribeAll(streams: ExecutionStreams, operationId: OperationId) {
  const known = (await history(streams, operationId)).at(-1);
  if (!known) throw new Error('no event to start from');
  const starts = [
    { cursor: null, sequence: 0 },
    { cursor: '0', sequence: 0 },
    { cursor: known.cursor, sequence: known.sequence },
  ];
  return Promise.all(
    starts.map(async (start) => ({
      start: start.sequence,
      read: reader(await streams.subscribe(operationId, { cursor: start.cursor })),
    })),
  );
}

const timeline = (message: string): EventDraft[] => [
  { kind: 'execution.timeline_appended', payload: { message } },
];
const complete: EventDraft[] = [
  { kind: 'execution.result', payload: { output: { ok: true } } },
  { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
];

async function runningExecution(streams: ExecutionStreams) {
  const { record } = await streams.create({ ownerId: 'owner', type: 'swap' });
  const { operationId } = record;
  await streams.append(operationId, [
    { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
  ]);
  return {
    operationId,
    append: (drafts: EventDraft[]) => appendSurely(streams, operationId, drafts),
  };
}

/**
 * Appends once, riding out outages: the single writer of these tests retries a batch whose
 * outcome is unknown only after checking, by sequence, that it did not land.
 */
async function appendSurely(
  streams: ExecutionStreams,
  operationId: OperationId,
  drafts: EventDraft[],
) {
  for (;;) {
    const before = await retryWhileUnavailable(() => streams.getSnapshot(operationId));
    try {
      await streams.append(operationId, drafts, { expectedSequence: before.sequence });
      return;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      const after = await retryWhileUnavailable(() => streams.getSnapshot(operationId));
      if (after.sequence === before.sequence + drafts.length) return;
    }
  }
}

/** `count` running executions, each read by its three subscriptions. */
function watchedExecutions(streams: ExecutionStreams, count: number) {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const execution = await runningExecution(streams);
      return { ...execution, readers: await subscribeAll(streams, execution.operationId) };
    }),
  );
}

/** Runs `fault` between rounds of appends on every execution, then ends them all. */
async function appendThrough(
  executions: { append: (drafts: EventDraft[]) => Promise<void> }[],
  rounds: number,
  fault: (round: number) => Promise<void>,
) {
  for (let round = 0; round < rounds; round++) {
    await Promise.all(executions.map(({ append }) => append(timeline(`round ${round}`))));
    await fault(round);
  }
  await Promise.all(executions.map(({ append }) => append(complete)));
}

async function expectEverySubscriberGapless(
  streams: ExecutionStreams,
  executions: { operationId: OperationId; readers: Awaited<ReturnType<typeof subscribeAll>> }[],
) {
  for (const { operationId, readers } of executions) {
    const stored = await history(streams, operationId);
    for (const { start, read } of readers) expectGapless(await read.done, stored, start);
  }
  expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
}

describe('faults on a single Redis', () => {
  it('CLIENT KILL of every connection: subscriptions resume from their cursors, gapless', async () => {
    await using server = await startRedisServer();
    await using streams = await openRedisStreams({ url: server.url });
    const executions = await watchedExecutions(streams, 3);
    const connected = async () => {
      const list = String(await redisCommand(server.port, ['CLIENT', 'LIST']));
      return list.includes(' name=execstream ') && list.includes(' name=execstream:sub ');
    };
    const killed: unknown[] = [];
    await appendThrough(executions, 30, async (round) => {
      if (round % 5 !== 2) return;
      // Both kinds, each once it is back from the last kill: the subscriber connection
      // (notifications published meanwhile are lost) and the command connection (in-flight
      // appends fail; appendSurely retries by sequence).
      await eventually(connected);
      killed.push(await redisCommand(server.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']));
      killed.push(await redisCommand(server.port, ['CLIENT', 'KILL', 'TYPE', 'normal']));
    });
    expect(killed).toEqual(Array(12).fill(1));
    await expectEverySubscriberGapless(streams, executions);
  });

  it('a lost notification loses no event: appends while only the subscriber is gone', async () => {
    await using server = await startRedisServer();
    await using streams = await openRedisStreams({ url: server.url });
    const execution = await runningExecution(streams);
    const readers = await subscribeAll(streams, execution.operationId);
    // Kill the subscriber and append at once: these batches are published to nobody.
    await redisCommand(server.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    for (let index = 0; index < 5; index++) await execution.append(timeline(`unseen ${index}`));
    await execution.append(complete);
    await expectEverySubscriberGapless(streams, [{ ...execution, readers }]);
  });

  it.each([
    ['the subscriber connection is killed', 'kill'],
    ['redis-server restarts with its data', 'restart'],
  ] as const)(
    'the tail starts over when %s: a resume from before reads the store, gapless',
    async (_, fault) => {
      await using server = await startRedisServer();
      await using streams = await openRedisStreams({ url: server.url });
      const execution = await runningExecution(streams);
      // A reader keeps the execution's feed, and its tail, live throughout.
      const watcher = reader(await streams.subscribe(execution.operationId));
      for (let index = 0; index < 3; index++) await execution.append(timeline(`seen ${index}`));
      await eventually(async () => watcher.events.at(-1)?.sequence === 5);
      const seen = await history(streams, execution.operationId);
      if (fault === 'kill') await redisCommand(server.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      else await server.restart();
      // Appended while notifications are lost (or before the subscriber is back).
      for (let index = 0; index < 2; index++) await execution.append(timeline(`unseen ${index}`));
      await eventually(async () => watcher.events.at(-1)?.sequence === 7);

      // A tail still holding 1..5 would serve this resume 4 and 5, then wait for live events that
      // were already published: it must have started over, so this resume reads the store.
      const before = streams.storeReads();
      const resumed = reader(
        await streams.subscribe(execution.operationId, { cursor: seen[2]?.cursor }),
      );
      await eventually(async () => resumed.events.at(-1)?.sequence === 7);
      expect(streams.storeReads()).toBeGreaterThan(before);
      await execution.append(complete);
      const stored = await history(streams, execution.operationId);
      expectGapless(await watcher.done, stored, 0);
      expectGapless(await resumed.done, stored, 3);
    },
  );

  it('redis-server restarts with its data: subscriptions resume, appends go on', async () => {
    await using server = await startRedisServer();
    await using streams = await openRedisStreams({ url: server.url });
    const executions = await watchedExecutions(streams, 3);
    await appendThrough(executions, 12, async (round) => {
      if (round % 4 === 1) await server.restart();
    });
    await expectEverySubscriberGapless(streams, executions);
  });

  it('while Redis is down appends fail fast with StoreUnavailableError and nothing is half-written', async () => {
    // fsync on every write, so that what Redis acknowledged survives SIGKILL.
    await using server = await startRedisServer({ args: ['--appendfsync', 'always'] });
    await using streams = await openRedisStreams({ url: server.url });
    const executions = await watchedExecutions(streams, 8);
    const [first] = executions;
    if (!first) throw new Error('no execution');

    // Every execution appends large batches until the store fails under it; SIGKILL lands in the
    // middle of that, with batches being written. Each must land whole or not at all.
    const batch = Array.from(
      { length: 200 },
      (_, index): EventDraft => ({
        kind: 'execution.timeline_appended',
        payload: { message: `bulk ${index}`, data: { index, padding: 'x'.repeat(200) } },
      }),
    );
    const appending = executions.map(async ({ operationId }) => {
      for (let stored = 0; ; stored++) {
        try {
          await streams.append(operationId, batch);
        } catch (error) {
          return { stored, error };
        }
      }
    });
    await eventually(
      async () => (await history(streams, executions[0]?.operationId ?? '')).length > 400,
    );
    await server.kill();
    for (const { error } of await Promise.all(appending)) {
      expect(error).toBeInstanceOf(StoreUnavailableError);
    }

    await expect(streams.append(first.operationId, batch)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(streams.getSnapshot(first.operationId)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(streams.subscribe(first.operationId)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(await streams.ping()).toBe(false);

    await server.restart();
    for (const { operationId, readers } of executions) {
      const stored = await retryWhileUnavailable(() => history(streams, operationId));
      const record = await streams.getRecord(operationId);
      if (!record) throw new Error('record lost');
      // The stored snapshot is exactly the fold of the stored events: no batch without its
      // snapshot update, no snapshot update without its batch, no batch in part.
      expect(foldExecution(initialSnapshot(record), stored)).toEqual(
        await streams.getSnapshot(operationId),
      );
      expect(stored.map((event) => event.sequence)).toEqual(stored.map((_, index) => index + 1));
      expect((stored.length - 2) % batch.length).toBe(0);

      await appendSurely(streams, operationId, complete);
      const final = await history(streams, operationId);
      for (const { start, read } of readers) expectGapless(await read.done, final, start);
    }
  });
});

async function retryWhileUnavailable<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
