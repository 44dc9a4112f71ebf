import { describe, expect, it } from 'vitest';
import { ExecutionNotFoundError, InvalidInputError } from '../errors.ts';
import { allEvents, eventually, openService, sequencesOf, startExecution } from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

export function lifecycleRules(target: ConformanceTarget): void {
  describe('history', () => {
    it('pages through retained events with nextCursor and reports retention', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      for (let index = 0; index < 5; index++) await producer.progress(index * 10);
      const pages: number[][] = [];
      let after: string | null = null;
      for (;;) {
        const page = await streams.readHistory(operationId, { after, limit: 3 });
        pages.push(sequencesOf(page.events));
        expect(page.retention).toMatchObject({ length: 7 });
        if (!page.nextCursor) break;
        expect(page.nextCursor).toBe(page.events.at(-1)?.cursor);
        after = page.nextCursor;
      }
      expect(pages).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
      const events = await allEvents(streams, operationId);
      const { retention } = await streams.readHistory(operationId, { limit: 1 });
      expect(retention).toEqual({
        firstCursor: events[0]?.cursor,
        lastCursor: events.at(-1)?.cursor,
        length: 7,
      });
      for (const limit of [0, -1, 1001, 1.5]) {
        await expect(streams.readHistory(operationId, { limit })).rejects.toBeInstanceOf(
          InvalidInputError,
        );
      }
      expect((await streams.readHistory(operationId, { limit: 1000 })).events).toHaveLength(7);
    });

    it('keeps at most maxEventsPerStream events, the newest, while the snapshot keeps everything', async () => {
      await using streams = await openService(target, { maxEventsPerStream: 4 });
      const { operationId, producer } = await startExecution(streams);
      for (let index = 0; index < 6; index++) await producer.timeline(`t${index}`);
      await streams.append(operationId, [
        { kind: 'execution.progress', payload: { percent: 90 } },
        { kind: 'execution.progress', payload: { percent: 95 } },
      ]);
      const { events, retention } = await streams.readHistory(operationId);
      expect(sequencesOf(events)).toEqual([7, 8, 9, 10]);
      expect(retention).toEqual({
        firstCursor: events[0]?.cursor,
        lastCursor: events[3]?.cursor,
        length: 4,
      });
      const snapshot = await streams.getSnapshot(operationId);
      expect(snapshot.timeline.map((entry) => entry.message)).toEqual([
        't0',
        't1',
        't2',
        't3',
        't4',
        't5',
      ]);
      expect(snapshot).toMatchObject({ sequence: 10, progress: { percent: 95 } });
    });
  });

  describe('lists and expiry', () => {
    it("lists an owner's executions newest first, paged, and nobody else's", async () => {
      await using streams = await openService(target);
      const mine: string[] = [];
      for (let index = 0; index < 5; index++) {
        mine.push((await streams.create({ ownerId: 'alice', type: 'swap' })).record.operationId);
        await streams.create({ ownerId: 'bob', type: 'withdraw' });
      }
      const first = await streams.listExecutions('alice', { limit: 2 });
      expect(first.items.map((item) => item.operationId)).toEqual([mine[4], mine[3]]);
      const second = await streams.listExecutions('alice', { limit: 2, cursor: first.nextCursor });
      const third = await streams.listExecutions('alice', { limit: 2, cursor: second.nextCursor });
      expect(second.items.map((item) => item.operationId)).toEqual([mine[2], mine[1]]);
      expect(third.items.map((item) => item.operationId)).toEqual([mine[0]]);
      expect(third.nextCursor).toBeNull();
      expect(first.items[0]).toEqual({
        operationId: mine[4],
        type: 'swap',
        status: 'accepted',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        finishedAt: null,
      });
      const bobs = await streams.listExecutions('bob', { limit: 100 });
      expect(bobs.items).toHaveLength(5);
      expect(bobs.items.every((item) => item.type === 'withdraw')).toBe(true);
      expect((await streams.listExecutions('carol')).items).toEqual([]);
    });

    it('expires a terminal execution after its TTL, everywhere', async () => {
      await using streams = await openService(target, { terminalTtlMs: 150 });
      const { operationId, producer } = await startExecution(streams);
      const running = await startExecution(streams);
      await producer.cancel();
      await eventually(
        async () => (await streams.getRecord(operationId)) === null,
        'expiry',
        10_000,
      );
      await expect(streams.getSnapshot(operationId)).rejects.toBeInstanceOf(ExecutionNotFoundError);
      await expect(streams.subscribe(operationId, { cursor: '0' })).rejects.toBeInstanceOf(
        ExecutionNotFoundError,
      );
      const listed = await streams.listExecutions('owner-1');
      expect(listed.items.map((item) => item.operationId)).toEqual([running.operationId]);
      // Executions still running never expire.
      expect((await streams.getSnapshot(running.operationId)).status).toBe('running');
    });
  });

  describe('worker leases', () => {
    it('grants a lease to one holder at a time, renews it, and frees it on release or expiry', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      expect(await streams.acquireLease(operationId, 'worker-a', 60_000)).toBe(true);
      expect(await streams.acquireLease(operationId, 'worker-b', 60_000)).toBe(false);
      expect(await streams.acquireLease(operationId, 'worker-a', 60_000)).toBe(true);
      await streams.releaseLease(operationId, 'worker-b');
      expect(await streams.acquireLease(operationId, 'worker-b', 60_000)).toBe(false);
      await streams.releaseLease(operationId, 'worker-a');
      expect(await streams.acquireLease(operationId, 'worker-b', 1)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await streams.acquireLease(operationId, 'worker-a', 60_000)).toBe(true);
      await producer.complete({ ok: true });
      expect(await streams.acquireLease(operationId, 'worker-b', 60_000)).toBe(false);
      expect(await streams.acquireLease('op_unknown', 'worker-b', 60_000)).toBe(false);
    });

    it('lists unfinished executions oldest first, without terminal ones', async () => {
      await using streams = await openService(target);
      const first = await startExecution(streams);
      const done = await startExecution(streams);
      const third = await streams.create({ ownerId: 'x', type: 'rebalance' });
      await done.producer.cancel();
      expect(await streams.listUnfinished({ limit: 10 })).toEqual([
        first.operationId,
        third.record.operationId,
      ]);
      expect(await streams.listUnfinished({ limit: 1 })).toEqual([first.operationId]);
      expect(await streams.ping()).toBe(true);
    });
  });
}
