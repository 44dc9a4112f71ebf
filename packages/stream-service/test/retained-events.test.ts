import { type Envelope, makeEnvelope } from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { RetainedEvents } from '../src/memory/retained-events.ts';

function event(sequence: number): Envelope {
  const cursor = `${1000 + Math.floor(sequence / 3)}-${sequence}`;
  return makeEnvelope({
    streamId: 'execution:op_r',
    cursor,
    sequence,
    ts: new Date(1000).toISOString(),
    kind: 'execution.progress',
    operationId: 'op_r',
    payload: { percent: sequence % 100 },
  }) as Envelope;
}

describe('RetainedEvents', () => {
  it('keeps exactly the newest `max` events through many trims and compactions', () => {
    const retained = new RetainedEvents(event(1));
    for (let sequence = 2; sequence <= 5_000; sequence++) retained.append([event(sequence)], 100);
    expect(retained.length).toBe(100);
    expect(retained.first?.sequence).toBe(4_901);
    expect(retained.last?.sequence).toBe(5_000);
    expect(retained.after('0-0', 3).map((e) => e.sequence)).toEqual([4_901, 4_902, 4_903]);
    expect(retained.after(event(4_998).cursor, 10).map((e) => e.sequence)).toEqual([4_999, 5_000]);
    expect(retained.at(event(4_950).cursor)?.sequence).toBe(4_950);
    // Trimmed, even though the backing array may still hold it until the next compaction.
    expect(retained.at(event(4_900).cursor)).toBeNull();
    expect(retained.at(event(10).cursor)).toBeNull();
    expect(retained.after(event(10).cursor, 1)[0]?.sequence).toBe(4_901);
  });

  it('appends batches larger than the bound, keeping the newest', () => {
    const retained = new RetainedEvents(event(1));
    retained.append(
      Array.from({ length: 9 }, (_, index) => event(index + 2)),
      4,
    );
    expect(retained.after('0-0', 100).map((e) => e.sequence)).toEqual([7, 8, 9, 10]);
  });
});
