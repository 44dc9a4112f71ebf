import {
  CURSOR_PATTERN,
  compareCursors,
  cursorMillis,
  EnvelopeSchema,
  type EventDraft,
  serializeEnvelope,
} from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import {
  ExecutionNotFoundError,
  ExecutionTerminalError,
  IllegalTransitionError,
  InvalidEventError,
  InvalidInputError,
  SequenceConflictError,
} from '../errors.ts';
import {
  allEvents,
  foldFrom,
  observe,
  openService,
  startExecution,
  timelineDraft,
} from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

export function creationAndAppendRules(target: ConformanceTarget): void {
  describe('create', () => {
    it('stores the first event, state_changed null -> accepted at sequence 1', async () => {
      await using streams = await openService(target);
      const { record, snapshot, created } = await streams.create({ ownerId: 'o', type: 'bridge' });
      expect(created).toBe(true);
      expect(record.operationId).toMatch(/^op_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(snapshot).toMatchObject({ status: 'accepted', type: 'bridge', sequence: 1 });
      const [first, ...rest] = await allEvents(streams, record.operationId);
      expect(rest).toEqual([]);
      expect(first).toMatchObject({
        streamId: `execution:${record.operationId}`,
        sequence: 1,
        kind: 'execution.state_changed',
        operationId: record.operationId,
        payload: { from: null, to: 'accepted' },
      });
      expect(EnvelopeSchema.parse(first)).toEqual(first);
      expect(first?.cursor).toMatch(CURSOR_PATTERN);
      expect(first?.eventId).toBe(first?.cursor);
      expect(snapshot.cursor).toBe(first?.cursor);
      expect(await streams.getRecord(record.operationId)).toEqual(record);
    });

    it('returns the same execution for the same owner and idempotency key', async () => {
      await using streams = await openService(target);
      const first = await streams.create({ ownerId: 'a', type: 'swap', idempotencyKey: 'k1' });
      const again = await streams.create({ ownerId: 'a', type: 'swap', idempotencyKey: 'k1' });
      const otherOwner = await streams.create({ ownerId: 'b', type: 'swap', idempotencyKey: 'k1' });
      expect(again.created).toBe(false);
      expect(again.record.operationId).toBe(first.record.operationId);
      expect(otherOwner.created).toBe(true);
      expect(otherOwner.record.operationId).not.toBe(first.record.operationId);
      expect((await allEvents(streams, first.record.operationId)).length).toBe(1);
    });

    it('keeps params and honours an explicit operation id once', async () => {
      await using streams = await openService(target);
      const params = { simulate: { steps: 3 }, pair: 'ETH/USDC' };
      const made = await streams.create({
        ownerId: 'o',
        type: 'swap',
        params,
        operationId: 'op_fixed-1',
      });
      const again = await streams.create({ ownerId: 'o', type: 'swap', operationId: 'op_fixed-1' });
      expect(made.record.params).toEqual(params);
      expect(again.created).toBe(false);
      expect(again.record).toEqual(made.record);
    });

    it('rejects bad input with a clear error and stores nothing', async () => {
      await using streams = await openService(target);
      const bad = [
        { ownerId: 'o', type: 'teleport' },
        { ownerId: '', type: 'swap' },
        { ownerId: 'o', type: 'swap', operationId: 'not-an-op' },
        { ownerId: 'o', type: 'swap', params: 'x' },
      ];
      for (const input of bad) {
        await expect(streams.create(input as never)).rejects.toBeInstanceOf(InvalidInputError);
      }
      await expect(streams.create({ ownerId: 'o', type: 'teleport' as never })).rejects.toThrow(
        /type/,
      );
      expect((await streams.listExecutions('o')).items).toEqual([]);
    });

    it('answers not found for executions that do not exist', async () => {
      await using streams = await openService(target);
      await expect(streams.getSnapshot('op_missing')).rejects.toBeInstanceOf(
        ExecutionNotFoundError,
      );
      await expect(streams.readHistory('op_missing')).rejects.toBeInstanceOf(
        ExecutionNotFoundError,
      );
      await expect(streams.append('op_missing', [timelineDraft('x')])).rejects.toBeInstanceOf(
        ExecutionNotFoundError,
      );
      await expect(streams.subscribe('op_missing')).rejects.toBeInstanceOf(ExecutionNotFoundError);
      expect(await streams.getRecord('op_missing')).toBeNull();
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    });
  });

  describe('append', () => {
    it('numbers events from the stream head with increasing cursors and append-time ts', async () => {
      await using streams = await openService(target);
      const { operationId } = await startExecution(streams);
      const appended = await streams.append(operationId, [
        timelineDraft('quote received'),
        { kind: 'execution.progress', payload: { percent: 10, step: 'quote' } },
      ]);
      expect(appended.map((event) => event.sequence)).toEqual([3, 4]);
      const events = await allEvents(streams, operationId);
      expect(events.map((event) => event.sequence)).toEqual([1, 2, 3, 4]);
      for (let index = 1; index < events.length; index++) {
        const [previous, current] = [events[index - 1], events[index]];
        expect(compareCursors(current?.cursor ?? '', previous?.cursor ?? '')).toBeGreaterThan(0);
      }
      for (const event of events) {
        expect(new Date(event.ts).getTime()).toBe(cursorMillis(event.cursor));
        expect(event.ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      }
      expect(appended.map(serializeEnvelope)).toEqual(events.slice(2).map(serializeEnvelope));
    });

    it('materialises the snapshot as the reducer fold of every event', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      await producer.timeline('approval sent', { level: 'info', txHash: '0xabc', chainId: 1 });
      await producer.progress(40, { step: 'confirmations', message: '2/5' });
      await producer.retrying({ code: 'RPC_TIMEOUT', message: 'rpc timed out' });
      await producer.start('retry');
      await producer.awaitUser('signature needed');
      await producer.start();
      await producer.complete({ amountOut: '1.5' }, 'Swapped');
      const snapshot = await streams.getSnapshot(operationId);
      const record = await streams.getRecord(operationId);
      if (!record) throw new Error('record missing');
      expect(snapshot).toEqual(foldFrom(record, await allEvents(streams, operationId)));
      expect(snapshot).toMatchObject({
        status: 'completed',
        result: { output: { amountOut: '1.5' }, summary: 'Swapped' },
        error: null,
        progress: { percent: 40, step: 'confirmations', message: '2/5' },
      });
      expect(snapshot.finishedAt).toBe(snapshot.updatedAt);
      expect(snapshot.timeline).toEqual([
        expect.objectContaining({
          message: 'approval sent',
          txHash: '0xabc',
          chainId: 1,
          sequence: 3,
        }),
      ]);
    });

    it('lands every concurrent append exactly once when no expectedSequence is given', async () => {
      await using streams = await openService(target);
      const { operationId } = await startExecution(streams);
      await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          streams.append(operationId, [timelineDraft(`m${index}`)]),
        ),
      );
      const events = await allEvents(streams, operationId);
      expect(events.map((event) => event.sequence)).toEqual(
        Array.from({ length: 22 }, (_, i) => i + 1),
      );
      const messages = events
        .slice(2)
        .map((event) => (event.payload as { message: string }).message);
      expect(new Set(messages).size).toBe(20);
    });

    it('lets exactly one of many racing producers with the same expectedSequence win', async () => {
      await using streams = await openService(target);
      const { operationId } = await startExecution(streams);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, index) =>
          streams.append(operationId, [timelineDraft(`p${index}`)], { expectedSequence: 2 }),
        ),
      );
      const won = results.filter((result) => result.status === 'fulfilled');
      const lost = results.flatMap((result) =>
        result.status === 'rejected' ? [result.reason] : [],
      );
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(7);
      for (const error of lost) expect(error).toBeInstanceOf(SequenceConflictError);
      expect((await streams.getSnapshot(operationId)).sequence).toBe(3);
    });

    const rejected: Array<{
      name: string;
      drafts: (status: string) => EventDraft[];
      error: new (...args: never[]) => Error;
      message?: RegExp;
      options?: { expectedSequence: number };
    }> = [
      {
        name: 'a stale expectedSequence',
        drafts: () => [timelineDraft('late')],
        options: { expectedSequence: 1 },
        error: SequenceConflictError,
      },
      {
        name: 'an illegal transition',
        drafts: () => [
          { kind: 'execution.state_changed', payload: { from: 'running', to: 'accepted' } },
        ],
        error: IllegalTransitionError,
      },
      {
        name: 'a from that is not the current status',
        drafts: () => [
          { kind: 'execution.state_changed', payload: { from: 'retrying', to: 'running' } },
        ],
        error: IllegalTransitionError,
      },
      {
        name: 'a second creation event',
        drafts: () => [
          { kind: 'execution.state_changed', payload: { from: null, to: 'accepted' } },
        ],
        error: IllegalTransitionError,
      },
      {
        name: 'a payload out of range, naming the field',
        drafts: () => [{ kind: 'execution.progress', payload: { percent: 150 } }],
        error: InvalidEventError,
        message: /events\.0\.payload\.percent/,
      },
      {
        name: 'a key the contract does not name',
        drafts: () =>
          [{ kind: 'execution.timeline_appended', payload: { message: 'x', extra: 1 } }] as never,
        error: InvalidEventError,
        message: /extra/,
      },
      {
        name: 'an unknown kind',
        drafts: () => [{ kind: 'execution.snapshot', payload: {} }] as never,
        error: InvalidEventError,
        message: /kind/,
      },
      { name: 'an empty batch', drafts: () => [], error: InvalidEventError },
      {
        name: 'completed without a result before it',
        drafts: () => [
          { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
        ],
        error: InvalidEventError,
      },
      {
        name: 'a result not followed by completed',
        drafts: () => [{ kind: 'execution.result', payload: { output: {} } }],
        error: InvalidEventError,
      },
      {
        name: 'failed without an error before it',
        drafts: () => [
          { kind: 'execution.state_changed', payload: { from: 'running', to: 'failed' } },
        ],
        error: InvalidEventError,
      },
      {
        name: 'a non-retryable error not followed by failed',
        drafts: () => [
          { kind: 'execution.error', payload: { code: 'X', message: 'x', retryable: false } },
        ],
        error: InvalidEventError,
      },
      {
        name: 'events after a terminal status in the same batch',
        drafts: () => [
          { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
          timelineDraft('after the end'),
        ],
        error: InvalidEventError,
      },
      {
        name: 'a valid head with an invalid tail (nothing of the batch is stored)',
        drafts: () => [
          timelineDraft('fine'),
          { kind: 'execution.progress', payload: { percent: 5 } },
          { kind: 'execution.progress', payload: { percent: -1 } },
        ],
        error: InvalidEventError,
      },
    ];

    for (const testCase of rejected) {
      it(`rejects ${testCase.name} and leaves the stream exactly as it was`, async () => {
        await using streams = await openService(target);
        const { operationId, producer } = await startExecution(streams);
        await producer.timeline('before');
        const before = await observe(streams, operationId);
        const attempt = streams.append(
          operationId,
          testCase.drafts(producer.status),
          testCase.options,
        );
        await expect(attempt).rejects.toBeInstanceOf(testCase.error);
        if (testCase.message) await expect(attempt).rejects.toThrow(testCase.message);
        expect(await observe(streams, operationId)).toEqual(before);
      });
    }

    it('rejects anything after a terminal status and keeps what was stored', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      await producer.fail({ code: 'SLIPPAGE', message: 'price moved' });
      const before = await observe(streams, operationId);
      await expect(streams.append(operationId, [timelineDraft('too late')])).rejects.toBeInstanceOf(
        ExecutionTerminalError,
      );
      await expect(producer.cancel()).rejects.toBeInstanceOf(ExecutionTerminalError);
      expect(await observe(streams, operationId)).toEqual(before);
      expect(before.snapshot).toMatchObject({
        status: 'failed',
        error: { code: 'SLIPPAGE', retryable: false },
      });
    });
  });
}
