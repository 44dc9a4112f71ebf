import { serializeEnvelope } from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { CursorInvalidError, ExecutionNotFoundError } from '../errors.ts';
import {
  allEvents,
  collect,
  drain,
  eventually,
  openService,
  sequencesOf,
  startExecution,
  take,
  timelineDraft,
} from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

const MALFORMED_CURSORS = [
  'abc',
  '1-',
  '-1',
  '1-2-3',
  ' 1-0',
  '1-0 ',
  '1_0',
  '01-',
  '123456789012345678901-0',
  '99999999999999999999-0',
  '1-99999999999999999999',
  '0-',
  '-',
  '١-٠',
  '$',
  '1.5-0',
];

export function subscribeRules(target: ConformanceTarget): void {
  describe('subscribe (CONTRACT §4)', () => {
    it('without a cursor: a snapshot at the head, then live events, ending after the terminal one', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      await producer.progress(10);
      const subscription = await streams.subscribe(operationId);
      expect(subscription.nothingToSend).toBe(false);
      expect(subscription.headSequence).toBe(3);
      const reading = drain(subscription);
      await producer.timeline('live 1');
      await producer.complete({ ok: true });
      const events = await reading;
      const head = events[0];
      expect(head?.kind).toBe('execution.snapshot');
      expect(head).toMatchObject({ sequence: 3, operationId });
      expect(head?.payload).toMatchObject({
        status: 'running',
        sequence: 3,
        progress: { percent: 10 },
      });
      expect(head?.cursor).toBe((head?.payload as { cursor?: string } | undefined)?.cursor);
      expect(sequencesOf(events)).toEqual([3, 4, 5, 6]);
      expect(events.at(-1)?.payload).toMatchObject({ to: 'completed' });
      const stored = await allEvents(streams, operationId);
      expect(events.slice(1).map(serializeEnvelope)).toEqual(
        stored.slice(3).map(serializeEnvelope),
      );
    });

    for (const start of ['0', '0-0']) {
      it(`from cursor ${start}: every retained event from the first`, async () => {
        await using streams = await openService(target);
        const { operationId, producer } = await startExecution(streams);
        await producer.timeline('one');
        await producer.cancel('user asked');
        const events = await drain(await streams.subscribe(operationId, { cursor: start }));
        expect(sequencesOf(events)).toEqual([1, 2, 3, 4]);
        expect(events.map(serializeEnvelope)).toEqual(
          (await allEvents(streams, operationId)).map(serializeEnvelope),
        );
      });
    }

    it('from an event of the stream: every event after it, then the live tail', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      const [resumeFrom] = await producer.timeline('seen');
      await producer.timeline('missed 1');
      await producer.timeline('missed 2');
      const subscription = await streams.subscribe(operationId, {
        cursor: resumeFrom?.cursor ?? null,
      });
      // Events 4 and 5 were there before it opened (history); 6 and 7 come after (live).
      expect(subscription.headSequence).toBe(5);
      const reading = drain(subscription);
      await producer.complete({ ok: true });
      expect(sequencesOf(await reading)).toEqual([4, 5, 6, 7]);
    });

    it('from a well-formed cursor that is not an event of this stream: a snapshot (resync)', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      const other = await startExecution(streams);
      const [foreign] = await other.producer.timeline('elsewhere');
      await producer.timeline('here');
      const head = await streams.getSnapshot(operationId);
      const [, second] = await allEvents(streams, operationId);
      const unknownCursors = [
        '1-0',
        foreign?.cursor ?? '',
        '99999999999999-0',
        `${second?.cursor.split('-')[0]}-999`,
      ];
      for (const cursor of unknownCursors) {
        const [first] = await take(await streams.subscribe(operationId, { cursor }), 1);
        expect(first?.kind, `cursor ${cursor}`).toBe('execution.snapshot');
        expect(first?.payload).toEqual(head);
      }
      await eventually(() => streams.stats().subscriptions === 0, 'subscriptions released');
    });

    it('from a malformed cursor: CursorInvalidError, before anything is held', async () => {
      await using streams = await openService(target);
      const { operationId } = await startExecution(streams);
      for (const cursor of MALFORMED_CURSORS) {
        await expect(streams.subscribe(operationId, { cursor }), cursor).rejects.toBeInstanceOf(
          CursorInvalidError,
        );
        await expect(
          streams.readHistory(operationId, { after: cursor }),
          cursor,
        ).rejects.toBeInstanceOf(CursorInvalidError);
      }
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    });

    it("with an ownerId: another owner's execution is not found, whatever the cursor, and nothing is held", async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams, 'owner-1');
      const [event] = await producer.timeline('one');
      for (const cursor of [null, '0', event?.cursor ?? null, '1-0']) {
        await expect(
          streams.subscribe(operationId, { cursor, ownerId: 'owner-2' }),
          String(cursor),
        ).rejects.toBeInstanceOf(ExecutionNotFoundError);
        const own = await streams.subscribe(operationId, { cursor, ownerId: 'owner-1' });
        own.close();
      }
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    });

    it('terminal with nothing after the cursor: nothingToSend, and nothing is held', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      const last = (await producer.complete({ done: true })).at(-1);
      const subscription = await streams.subscribe(operationId, { cursor: last?.cursor ?? null });
      expect(subscription.nothingToSend).toBe(true);
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
      expect(await drain(subscription)).toEqual([]);
    });

    it('terminal: a cursor before the end replays the rest; no cursor gives the final snapshot alone', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      const [mid] = await producer.timeline('mid');
      await producer.complete({ done: true });
      const rest = await drain(
        await streams.subscribe(operationId, { cursor: mid?.cursor ?? null }),
      );
      expect(sequencesOf(rest)).toEqual([4, 5]);
      const final = await drain(await streams.subscribe(operationId));
      expect(final).toHaveLength(1);
      expect(final[0]).toMatchObject({ kind: 'execution.snapshot', sequence: 5 });
      expect(final[0]?.payload).toMatchObject({ status: 'completed' });
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    });

    it('a trimmed start resyncs: cursor 0 and a trimmed cursor get a snapshot first', async () => {
      await using streams = await openService(target, { maxEventsPerStream: 5 });
      const { operationId, producer } = await startExecution(streams);
      const [trimmed] = await producer.timeline('soon gone');
      for (let index = 0; index < 10; index++) await producer.timeline(`filler ${index}`);
      const history = await streams.readHistory(operationId);
      expect(history.retention.length).toBe(5);
      expect(sequencesOf(history.events)).toEqual([9, 10, 11, 12, 13]);
      const head = await streams.getSnapshot(operationId);
      for (const cursor of ['0', trimmed?.cursor ?? '']) {
        const events = await take(await streams.subscribe(operationId, { cursor }), 1);
        expect(events[0]?.kind, `cursor ${cursor}`).toBe('execution.snapshot');
        expect(events[0]?.payload).toEqual(head);
      }
      // The snapshot still holds everything, trimmed or not.
      expect(head.timeline).toHaveLength(11);
      expect(head.sequence).toBe(13);
    });

    it('releases listeners when the signal aborts, when iteration breaks, and on close()', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);

      const controller = new AbortController();
      const aborted = await streams.subscribe(operationId, {
        cursor: '0',
        signal: controller.signal,
      });
      const abortedRead = drain(aborted);
      const broken = await streams.subscribe(operationId);
      const brokenRead = take(broken, 2);
      const closedUnread = await streams.subscribe(operationId);
      const closedWhileWaiting = await streams.subscribe(operationId);
      const waiting = collect(closedWhileWaiting);
      expect(streams.stats().subscriptions).toBe(4);
      expect(streams.stats().listeners).toBe(4);

      await producer.timeline('wake everyone');
      expect(sequencesOf(await brokenRead)).toEqual([2, 3]);
      closedUnread.close();
      await eventually(
        () => waiting.events.length === 2,
        'the live event reached the waiting reader',
      );
      closedWhileWaiting.close();
      await waiting.done;
      expect(sequencesOf(waiting.events)).toEqual([2, 3]);
      controller.abort();
      expect(sequencesOf(await abortedRead)).toEqual([1, 2, 3]);

      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
      // A signal aborted before subscribing holds nothing either.
      const early = await streams.subscribe(operationId, { signal: AbortSignal.abort() });
      expect(await drain(early)).toEqual([]);
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    });

    it('a reader slower than the live tail loses nothing: it catches up from the store', async () => {
      await using streams = await openService(target, { maxQueuedEvents: 8 });
      const { operationId, producer } = await startExecution(streams);
      const subscription = await streams.subscribe(operationId, { cursor: '0' });
      // Nobody reads while 100 events arrive: far more than the 8 a subscriber may queue.
      for (let index = 0; index < 50; index++) {
        await streams.append(operationId, [timelineDraft(`a${index}`), timelineDraft(`b${index}`)]);
      }
      // The producer's view is stale now: it re-reads the head and still lands its event.
      await producer.timeline('last before the end');
      const reading = drain(subscription);
      await streams.append(operationId, [
        { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
      ]);
      const events = await reading;
      const expected = (await allEvents(streams, operationId)).map(serializeEnvelope);
      expect(events.map(serializeEnvelope)).toEqual(expected);
    });
  });
}
