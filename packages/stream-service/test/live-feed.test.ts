import {
  type Envelope,
  envelopeText,
  makeEnvelope,
  type OperationId,
} from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { LiveFeed } from '../src/live-feed.ts';
import { MemoryBackend } from '../src/memory/memory-backend.ts';
import type { LiveListener } from '../src/types.ts';

const OPERATION = 'op_tail' as OperationId;

function event(sequence: number, message = ''): Envelope {
  return makeEnvelope({
    streamId: `execution:${OPERATION}`,
    cursor: `${1000 + sequence}-${sequence}`,
    sequence,
    ts: new Date(1000).toISOString(),
    kind: 'execution.timeline_appended',
    operationId: OPERATION,
    payload: { message },
  }) as Envelope;
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => event(from + index));

function recorder(): LiveListener & { batches: number[][]; gaps: number } {
  const heard = {
    batches: [] as number[][],
    gaps: 0,
    onEvents: (envelopes: readonly Envelope[]) => {
      heard.batches.push(envelopes.map((envelope) => envelope.sequence));
    },
    onGap: () => {
      heard.gaps++;
    },
  };
  return heard;
}

function feed(limits: Partial<{ maxEvents: number; maxBytes: number; lingerMs: number }> = {}) {
  return new LiveFeed(
    OPERATION,
    { maxEvents: 512, maxBytes: 262_144, lingerMs: 0, ...limits },
    () => {},
  );
}

const sequences = (events: Envelope[] | null) =>
  events?.map((envelope) => envelope.sequence) ?? null;

describe('LiveFeed', () => {
  it('serves every event after a sequence it holds, and nothing it may lack', () => {
    const tail = feed();
    expect(tail.after(0)).toBeNull();
    tail.onEvents(range(5, 9));
    expect(sequences(tail.after(4))).toEqual([5, 6, 7, 8, 9]);
    expect(sequences(tail.after(6, 2))).toEqual([7, 8]);
    expect(sequences(tail.after(9))).toEqual([]);
    // Event 4 may have had others before it that the tail never saw.
    expect(tail.after(3)).toBeNull();
    expect(tail.at(event(7).cursor)?.sequence).toBe(7);
    expect(tail.at(event(4).cursor)).toBeNull();
    // A batch overlapping what it holds adds only what is new.
    tail.onEvents(range(8, 11));
    expect(sequences(tail.tail())).toEqual([5, 6, 7, 8, 9, 10, 11]);
  });

  it('starts over on a jump in sequence, and on a gap, telling its listeners of the gap', async () => {
    const tail = feed();
    const listener = recorder();
    await tail.add(new MemoryBackend(), listener);
    tail.onEvents(range(1, 4));
    // Events 5 and 6 were never notified: the tail must not claim to follow 4 any more.
    tail.onEvents(range(7, 8));
    expect(tail.after(4)).toBeNull();
    expect(sequences(tail.after(6))).toEqual([7, 8]);
    tail.onGap();
    expect(tail.after(8)).toBeNull();
    expect(tail.lastSequence).toBeNull();
    expect(listener.gaps).toBe(1);
    tail.onEvents(range(12, 12));
    expect(sequences(tail.after(11))).toEqual([12]);
    expect(listener.batches).toEqual([[1, 2, 3, 4], [7, 8], [12]]);
    tail.close();
  });

  it('keeps at most maxEvents and maxBytes of text, dropping the oldest', () => {
    const byCount = feed({ maxEvents: 3 });
    byCount.onEvents(range(1, 10));
    expect(sequences(byCount.tail())).toEqual([8, 9, 10]);
    expect(byCount.after(6)).toBeNull();

    const big = (sequence: number) => event(sequence, 'x'.repeat(1000));
    const size = Buffer.byteLength(envelopeText(big(1)));
    const byBytes = feed({ maxBytes: size * 2 + 10 });
    byBytes.onEvents([1, 2, 3, 4].map(big));
    expect(sequences(byBytes.tail())).toEqual([3, 4]);
    // One event larger than the bound is still kept, alone.
    const tiny = feed({ maxBytes: 10 });
    tiny.onEvents([big(1), big(2)]);
    expect(sequences(tiny.tail())).toEqual([2]);
  });
});
