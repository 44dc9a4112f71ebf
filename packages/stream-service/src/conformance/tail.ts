import { describe, expect, it } from 'vitest';
import {
  allEvents,
  collect,
  drain,
  eventually,
  openService,
  sequencesOf,
  startExecution,
  take,
} from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

/** The in-memory tail: resumes and readers that fell behind, served without reading the store. */
export function tailRules(target: ConformanceTarget): void {
  describe('the tail', () => {
    it('serves a resume whose cursor is inside the tail with no store read', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      // A reader keeps the execution's feed (and so its tail) live while events are appended.
      const watcher = collect(await streams.subscribe(operationId));
      for (let index = 0; index < 10; index++) await producer.timeline(`step ${index}`);
      await eventually(() => watcher.events.at(-1)?.sequence === 12, 'the watcher is at 12');
      const stored = await allEvents(streams, operationId);
      const cursorOf = (sequence: number) => stored[sequence - 1]?.cursor as string;

      // A first resume reads the record once; every later one in the tail reads nothing.
      await take(await streams.subscribe(operationId, { cursor: cursorOf(11) }), 1);
      const before = streams.storeReads();
      const resumed = await streams.subscribe(operationId, { cursor: cursorOf(4) });
      expect(sequencesOf(await take(resumed, 8))).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
      const atTheEdge = await streams.subscribe(operationId, { cursor: cursorOf(12) });
      const live = take(atTheEdge, 1);
      await producer.timeline('live');
      expect(sequencesOf(await live)).toEqual([13]);
      expect(streams.storeReads()).toBe(before);

      // The same resumes are equal, event for event, to what the store holds.
      const fromTail = await take(
        await streams.subscribe(operationId, { cursor: cursorOf(2) }),
        11,
      );
      expect(fromTail).toEqual((await allEvents(streams, operationId)).slice(2, 13));
      await producer.complete({ ok: true });
      await watcher.done;
    });

    it('reads the store for a cursor older than the tail, and serves it whole', async () => {
      await using streams = await openService(target, { tail: { maxEvents: 4 } });
      const { operationId, producer } = await startExecution(streams);
      const watcher = collect(await streams.subscribe(operationId));
      for (let index = 0; index < 10; index++) await producer.timeline(`step ${index}`);
      await eventually(() => watcher.events.at(-1)?.sequence === 12, 'the watcher is at 12');
      const stored = await allEvents(streams, operationId);

      const before = streams.storeReads();
      const resumed = await streams.subscribe(operationId, { cursor: stored[2]?.cursor });
      expect(sequencesOf(await take(resumed, 9))).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(streams.storeReads()).toBeGreaterThan(before);
      await producer.complete({ ok: true });
      await watcher.done;
    });

    it('catches a reader that fell behind up from the tail, gapless, with no store read', async () => {
      await using streams = await openService(target, { maxQueuedEvents: 2 });
      const { operationId, producer } = await startExecution(streams);
      const watcher = collect(await streams.subscribe(operationId));
      const slow = await streams.subscribe(operationId);
      const iterator = slow[Symbol.asyncIterator]();
      expect((await iterator.next()).value?.kind).toBe('execution.snapshot');
      const before = streams.storeReads();
      // Ten events while the slow reader takes none: its queue overflows, and it catches up.
      for (let index = 0; index < 10; index++) await producer.timeline(`step ${index}`);
      await producer.complete({ ok: true });
      await watcher.done;
      const rest = [];
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        rest.push(next.value);
      }
      expect(sequencesOf(rest)).toEqual(Array.from({ length: 12 }, (_, i) => i + 3));
      expect(streams.storeReads()).toBe(before);
    });

    it('outlives its last reader for a while, so that readers coming back read nothing', async () => {
      await using streams = await openService(target, { tail: { lingerMs: 60_000 } });
      const { operationId, producer } = await startExecution(streams);
      const first = await streams.subscribe(operationId);
      const reading = take(first, 6);
      for (let index = 0; index < 5; index++) await producer.timeline(`step ${index}`);
      const seen = await reading;
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
      const before = streams.storeReads();
      const back = await streams.subscribe(operationId, { cursor: seen[2]?.cursor });
      const resumed = take(back, 4);
      await producer.timeline('after');
      expect(sequencesOf(await resumed)).toEqual([5, 6, 7, 8]);
      expect(streams.storeReads()).toBe(before);
      await producer.complete({ ok: true });
      expect(
        await drain(await streams.subscribe(operationId, { cursor: seen[5]?.cursor })),
      ).toHaveLength(3);
    });
  });
}
