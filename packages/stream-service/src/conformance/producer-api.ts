import { describe, expect, it } from 'vitest';
import { cancelExecution } from '../cancel.ts';
import {
  ConflictError,
  ExecutionNotFoundError,
  ExecutionTerminalError,
  IllegalTransitionError,
  InvalidEventError,
  InvalidInputError,
  LeaseLostError,
  SequenceConflictError,
  TooManyExecutionsError,
} from '../errors.ts';
import { observe, openService, timelineDraft } from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

const start = { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } };

/** CONTRACT §12 on the service: claims with leases, fenced and idempotent appends, create once. */
export function producerApiRules(target: ConformanceTarget): void {
  describe('producer API', () => {
    it('claims the oldest claimable execution, one holder at a time, by type', async () => {
      await using streams = await openService(target);
      const first = await streams.create({ ownerId: 'o', type: 'swap' });
      const second = await streams.create({ ownerId: 'o', type: 'bridge', params: { to: 10 } });
      const bridge = await streams.claim({ types: ['bridge'], leaseMs: 60_000 });
      expect(bridge).toMatchObject({
        record: { operationId: second.record.operationId, params: { to: 10 }, ownerId: 'o' },
        head: { status: 'accepted', sequence: 1 },
        lease: { token: expect.stringMatching(/^lease_/), expiresAt: expect.any(String) },
      });
      const any = await streams.claim({ leaseMs: 60_000 });
      expect(any?.record.operationId).toBe(first.record.operationId);
      expect(await streams.claim({ leaseMs: 60_000 })).toBeNull();
      const head = await streams.readProducerHead(first.record.operationId);
      // Redis tells a lease's time left, so the end read back may differ by a millisecond.
      const drift =
        Date.parse(head.lease?.expiresAt as string) - Date.parse(any?.lease.expiresAt as string);
      expect(Math.abs(drift)).toBeLessThan(1000);
      // Released, it is claimable again at once, with a new token.
      await streams.release(first.record.operationId, any?.lease.token as string);
      expect((await streams.readProducerHead(first.record.operationId)).lease).toBeNull();
      const again = await streams.claim({ leaseMs: 60_000 });
      expect(again?.record.operationId).toBe(first.record.operationId);
      expect(again?.lease.token).not.toBe(any?.lease.token);
      for (const bad of [{ leaseMs: 0 }, { leaseMs: 600_001 }, { leaseMs: 1000, waitMs: 30_001 }]) {
        await expect(streams.claim(bad)).rejects.toBeInstanceOf(InvalidInputError);
      }
    });

    it('never gives one execution to two concurrent claims', async () => {
      await using streams = await openService(target);
      const ids = new Set<string>();
      for (let index = 0; index < 20; index++) {
        ids.add((await streams.create({ ownerId: 'o', type: 'swap' })).record.operationId);
      }
      const claims = await Promise.all(
        Array.from({ length: 40 }, () => streams.claim({ leaseMs: 60_000 })),
      );
      const claimed = claims.flatMap((claim) => (claim ? [claim.record.operationId] : []));
      expect(claimed).toHaveLength(20);
      expect(new Set(claimed)).toEqual(ids);
    });

    it('wakes a waiting claim when an execution is created, and gives up after waitMs', async () => {
      await using streams = await openService(target);
      expect(await streams.claim({ leaseMs: 1000, waitMs: 50 })).toBeNull();
      const waiting = streams.claim({ leaseMs: 60_000, waitMs: 20_000 });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const { record } = await streams.create({ ownerId: 'o', type: 'withdraw' });
      expect((await waiting)?.record.operationId).toBe(record.operationId);
      const aborted = new AbortController();
      const cancelled = streams.claim({ leaseMs: 1000, waitMs: 20_000, signal: aborted.signal });
      aborted.abort();
      expect(await cancelled).toBeNull();
    });

    it('renews only the holder; an expired lease is lost and fences the old holder out', async () => {
      await using streams = await openService(target);
      const { record } = await streams.create({ ownerId: 'o', type: 'swap' });
      const { operationId } = record;
      const old = await streams.claim({ leaseMs: 150 });
      const oldToken = old?.lease.token as string;
      await streams.appendBatch(operationId, [start], { leaseToken: oldToken });
      expect((await streams.renewLease(operationId, oldToken, 150)).token).toBe(oldToken);
      await expect(streams.renewLease(operationId, 'lease_wrong', 1000)).rejects.toBeInstanceOf(
        LeaseLostError,
      );
      await expect(streams.release(operationId, 'lease_wrong')).rejects.toBeInstanceOf(
        LeaseLostError,
      );
      expect(await streams.claim({ leaseMs: 60_000 })).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const next = await streams.claim({ leaseMs: 60_000, waitMs: 2_000 });
      expect(next?.record.operationId).toBe(operationId);
      expect(next?.head).toMatchObject({ status: 'running', sequence: 2 });
      const before = await observe(streams, operationId);
      await expect(
        streams.appendBatch(operationId, [timelineDraft('stale')], { leaseToken: oldToken }),
      ).rejects.toBeInstanceOf(LeaseLostError);
      await expect(streams.renewLease(operationId, oldToken, 1000)).rejects.toBeInstanceOf(
        LeaseLostError,
      );
      expect(await observe(streams, operationId)).toEqual(before);
      const { result } = await streams.appendBatch(operationId, [timelineDraft('new')], {
        leaseToken: next?.lease.token,
      });
      expect(result).toMatchObject({ sequence: 3, status: 'running' });
      await expect(streams.renewLease('op_missing', oldToken, 1000)).rejects.toBeInstanceOf(
        ExecutionNotFoundError,
      );
    });

    it('remembers an idempotency key: a retry answers the first result and appends nothing', async () => {
      await using streams = await openService(target);
      const { record } = await streams.create({ ownerId: 'o', type: 'swap' });
      const { operationId } = record;
      const first = await streams.appendBatch(operationId, [start], { idempotencyKey: 'k-1' });
      expect(first).toMatchObject({ duplicate: false, result: { sequence: 2, status: 'running' } });
      expect(first.envelopes.map((event) => event.sequence)).toEqual([2]);
      await streams.appendBatch(operationId, [timelineDraft('a')], { idempotencyKey: 'k-2' });
      const before = await observe(streams, operationId);
      // The same key again, even with a batch that would now be illegal: the first answer.
      const retry = await streams.appendBatch(operationId, [start], { idempotencyKey: 'k-1' });
      expect(retry).toEqual({ result: first.result, envelopes: [], duplicate: true });
      expect(await observe(streams, operationId)).toEqual(before);
      // Keys are per execution.
      const other = await streams.create({ ownerId: 'o', type: 'swap' });
      const elsewhere = await streams.appendBatch(other.record.operationId, [start], {
        idempotencyKey: 'k-1',
      });
      expect(elsewhere.duplicate).toBe(false);
      // Concurrent retries of one key: one batch lands.
      const racing = await Promise.all(
        Array.from({ length: 8 }, () =>
          streams.appendBatch(operationId, [timelineDraft('once')], { idempotencyKey: 'k-3' }),
        ),
      );
      expect(racing.filter((answer) => !answer.duplicate)).toHaveLength(1);
      expect(new Set(racing.map((answer) => answer.result.sequence)).size).toBe(1);
      const snapshot = await streams.getSnapshot(operationId);
      expect(snapshot.timeline.filter((entry) => entry.message === 'once')).toHaveLength(1);
      for (const key of ['', 'has space', 'x'.repeat(256), 'é']) {
        await expect(
          streams.appendBatch(operationId, [timelineDraft('bad')], { idempotencyKey: key }),
        ).rejects.toBeInstanceOf(InvalidInputError);
      }
    });

    it('refuses bad batches, stale sequences and appends after the end, storing nothing', async () => {
      await using streams = await openService(target);
      const { record } = await streams.create({ ownerId: 'o', type: 'swap' });
      const { operationId } = record;
      const claim = await streams.claim({ leaseMs: 60_000 });
      const leaseToken = claim?.lease.token as string;
      await streams.appendBatch(operationId, [start], { leaseToken });
      const before = await observe(streams, operationId);
      const refusals: [unknown, object, new (...args: never[]) => Error][] = [
        [[], {}, InvalidEventError],
        [[{ kind: 'execution.snapshot', payload: {} }], {}, InvalidEventError],
        [[{ kind: 'execution.progress', payload: { percent: 101 } }], {}, InvalidEventError],
        [[{ kind: 'execution.result', payload: { output: {} } }], {}, InvalidEventError],
        [[start], {}, IllegalTransitionError],
        [[timelineDraft('x')], { expectedSequence: 1 }, SequenceConflictError],
        [[timelineDraft('x')], { leaseToken: 'lease_other' }, LeaseLostError],
        [[timelineDraft('x')], { expectedSequence: 0 }, InvalidInputError],
        ['not an array', {}, InvalidEventError],
      ];
      for (const [events, options, type] of refusals) {
        await expect(streams.appendBatch(operationId, events, options)).rejects.toBeInstanceOf(
          type,
        );
      }
      expect(await observe(streams, operationId)).toEqual(before);
      const conflict = await streams
        .appendBatch(operationId, [timelineDraft('x')], { expectedSequence: 1 })
        .catch((error: SequenceConflictError) => error);
      expect(conflict).toMatchObject({ expected: 1, actual: 2 });
      // A user's cancel lands: the holder is told the run ended, not that it lost the lease.
      await cancelExecution(streams, operationId);
      const cancelled = await observe(streams, operationId);
      await expect(
        streams.appendBatch(operationId, [timelineDraft('late')], { leaseToken }),
      ).rejects.toBeInstanceOf(ExecutionTerminalError);
      await expect(streams.renewLease(operationId, leaseToken, 1000)).rejects.toBeInstanceOf(
        LeaseLostError,
      );
      expect(await observe(streams, operationId)).toEqual(cancelled);
      expect((await streams.readProducerHead(operationId)).lease).toBeNull();
      await expect(streams.appendBatch('op_missing', [timelineDraft('x')])).rejects.toBeInstanceOf(
        ExecutionNotFoundError,
      );
    });

    it('creates once per operation id: the same request answers the same, another conflicts', async () => {
      await using streams = await openService(target);
      const input = {
        operationId: 'op_producer_once',
        ownerId: 'o',
        type: 'swap' as const,
        params: { a: 1, b: { c: 2 } },
      };
      const first = await streams.createOnce(input);
      expect(first).toMatchObject({ created: true, first: { sequence: 1, status: 'accepted' } });
      await streams.appendBatch(input.operationId, [start]);
      const again = await streams.createOnce({ ...input, params: { b: { c: 2 }, a: 1 } });
      expect(again).toEqual({ ...first, created: false });
      for (const other of [{ params: { a: 2 } }, { type: 'bridge' as const }, { ownerId: 'p' }]) {
        await expect(streams.createOnce({ ...input, ...other })).rejects.toBeInstanceOf(
          ConflictError,
        );
      }
      await streams.createOnce({ ownerId: 'limited', type: 'swap', maxUnfinished: 1 });
      await expect(
        streams.createOnce({ ownerId: 'limited', type: 'swap', maxUnfinished: 1 }),
      ).rejects.toBeInstanceOf(TooManyExecutionsError);
    });
  });
}
