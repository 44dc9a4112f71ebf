import { describe, expect, it } from 'vitest';
import { InvalidInputError, TooManyExecutionsError } from '../errors.ts';
import { ExecutionProducer } from '../producer.ts';
import type { ExecutionStreams } from '../types.ts';
import { RESERVATION_GRACE_MS } from '../unfinished-limit.ts';
import { openService, openStore } from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

/** A create for owner `o` under a limit. */
function createLimited(
  streams: ExecutionStreams,
  maxUnfinished: number,
  extra: { idempotencyKey?: string; operationId?: string; ownerId?: string } = {},
) {
  return streams.create({ ownerId: 'o', type: 'swap', maxUnfinished, ...extra });
}

async function ownedIds(streams: ExecutionStreams, ownerId = 'o'): Promise<string[]> {
  const { items } = await streams.listExecutions(ownerId, { limit: 100 });
  return items.map((item) => item.operationId);
}

/** Ends an execution the way `ending` names, through the producer. */
async function end(
  streams: ExecutionStreams,
  operationId: string,
  ending: 'complete' | 'fail' | 'cancel',
) {
  const producer = await ExecutionProducer.attach(streams, operationId);
  await producer.start();
  if (ending === 'complete') await producer.complete({ ok: true });
  else if (ending === 'fail') await producer.fail({ code: 'BROKE', message: 'it broke' });
  else await producer.cancel();
}

export function unfinishedLimitRules(target: ConformanceTarget): void {
  describe('executions not yet terminal, per owner (maxUnfinished)', () => {
    it('refuses a create past the limit with TooManyExecutionsError and stores nothing', async () => {
      await using streams = await openService(target);
      const made = [await createLimited(streams, 2), await createLimited(streams, 2)];
      const refused = createLimited(streams, 2, { idempotencyKey: 'third' });
      await expect(refused).rejects.toBeInstanceOf(TooManyExecutionsError);
      await expect(refused).rejects.toMatchObject({
        code: 'TOO_MANY_EXECUTIONS',
        limit: 2,
        retryAfterSeconds: expect.any(Number),
      });
      const { retryAfterSeconds } = (await refused.catch((error) => error)) as {
        retryAfterSeconds: number;
      };
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(retryAfterSeconds).toBeLessThanOrEqual(5);
      const ids = made.map((result) => result.record.operationId);
      expect((await ownedIds(streams)).sort()).toEqual([...ids].sort());
      expect((await streams.listUnfinished({ limit: 100 })).sort()).toEqual([...ids].sort());
      // Other owners have slots of their own; a create without a limit is not refused, and
      // counts against the next one that has a limit.
      expect((await createLimited(streams, 2, { ownerId: 'p' })).created).toBe(true);
      await streams.create({ ownerId: 'o', type: 'swap' });
      await end(streams, ids[0] as string, 'cancel');
      await expect(createLimited(streams, 2)).rejects.toBeInstanceOf(TooManyExecutionsError);
      // The refused request's idempotency key was never claimed.
      await end(streams, ids[1] as string, 'cancel');
      expect((await createLimited(streams, 2, { idempotencyKey: 'third' })).created).toBe(true);
      for (const maxUnfinished of [0, -1, 1.5]) {
        await expect(createLimited(streams, maxUnfinished)).rejects.toBeInstanceOf(
          InvalidInputError,
        );
      }
    });

    it('frees the slot when an execution ends: completed, failed or cancelled', async () => {
      await using streams = await openService(target);
      let current = await createLimited(streams, 1);
      for (const ending of ['complete', 'fail', 'cancel'] as const) {
        await expect(createLimited(streams, 1)).rejects.toBeInstanceOf(TooManyExecutionsError);
        await end(streams, current.record.operationId, ending);
        current = await createLimited(streams, 1);
        expect(current.created).toBe(true);
      }
      expect(await ownedIds(streams)).toHaveLength(4);
    });

    it('answers an idempotent resubmit at the limit with the existing execution', async () => {
      await using streams = await openService(target);
      const first = await createLimited(streams, 1, { idempotencyKey: 'k' });
      const again = await createLimited(streams, 1, { idempotencyKey: 'k' });
      expect(again.created).toBe(false);
      expect(again.record).toEqual(first.record);
      const byId = await createLimited(streams, 1, { operationId: first.record.operationId });
      expect(byId).toMatchObject({ created: false, record: first.record });
      // Ended, with its slot taken by another: the key still names it.
      await end(streams, first.record.operationId, 'complete');
      const other = await createLimited(streams, 1);
      const ended = await createLimited(streams, 1, { idempotencyKey: 'k' });
      expect(ended).toMatchObject({ created: false, record: first.record });
      expect(ended.snapshot.status).toBe('completed');
      expect((await ownedIds(streams)).sort()).toEqual(
        [first.record.operationId, other.record.operationId].sort(),
      );
    });

    it('never lets concurrent creates pass the limit', async () => {
      await using streams = await openService(target);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.allSettled(
          Array.from({ length: 24 }, () => createLimited(streams, 5)),
        );
        const made = results.flatMap((result) =>
          result.status === 'fulfilled' ? [result.value.record.operationId] : [],
        );
        for (const result of results) {
          if (result.status === 'rejected') {
            expect(result.reason).toBeInstanceOf(TooManyExecutionsError);
          }
        }
        // Every round starts empty: five slots, five creations.
        expect(made).toHaveLength(5);
        expect(await streams.listUnfinished({ limit: 100 })).toHaveLength(5);
        await Promise.all(made.map((operationId) => end(streams, operationId, 'cancel')));
      }
      expect(await ownedIds(streams)).toHaveLength(15);
    });

    it('heals reservations left by a process that died mid-create or mid-end', async () => {
      // Pruned on every refusal here, to see each heal at once.
      await using store = await openStore(target, { pruneIntervalMs: 0 });
      const { streams, backend } = store;
      // Died between reserving and creating: long ago, and just now (maybe still creating).
      const longAgo = Date.now() - RESERVATION_GRACE_MS - 1_000;
      expect(await backend.reserveUnfinished('o', 'op_died-long-ago', null, longAgo)).toBe(true);
      expect(await backend.reserveUnfinished('o', 'op_creating-now', null, Date.now())).toBe(true);
      const made = await createLimited(streams, 2);
      expect(made.created).toBe(true);
      // A reservation younger than the grace period may be a creation under way: it counts.
      await expect(createLimited(streams, 2)).rejects.toBeInstanceOf(TooManyExecutionsError);
      // Died between the ending commit and freeing the slot.
      await end(streams, made.record.operationId, 'complete');
      await backend.reserveUnfinished('o', made.record.operationId, null, Date.now());
      expect((await createLimited(streams, 2)).created).toBe(true);
      const held = await backend.listReservations('o', 10);
      expect(held.map((reservation) => reservation.operationId)).toContain('op_creating-now');
      expect(held).toHaveLength(2);
    });

    it("prunes a full owner's reservations at most once per interval, however often it submits", async () => {
      await using store = await openStore(target, { pruneIntervalMs: 60_000 });
      const { streams, backend } = store;
      let headReads = 0;
      const readHead = backend.readHead.bind(backend);
      backend.readHead = (operationId) => {
        headReads++;
        return readHead(operationId);
      };
      for (let index = 0; index < 5; index++) await createLimited(streams, 5);
      const before = headReads;
      for (let index = 0; index < 20; index++) {
        await expect(createLimited(streams, 5)).rejects.toBeInstanceOf(TooManyExecutionsError);
      }
      // One prune read the five heads; the nineteen refusals after it read none.
      expect(headReads - before).toBe(5);
    });
  });
}
