import {
  type Envelope,
  type EventDraft,
  type ExecutionSnapshot,
  serializeEnvelope,
} from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import type { ExecutionRecord, ExecutionStreams } from '../types.ts';
import {
  allEvents,
  collect,
  foldFrom,
  openService,
  sequencesOf,
  startExecution,
} from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

type StartChoice = 'none' | 'zero' | 'known' | 'unknown';
const START_CHOICES: StartChoice[] = ['none', 'zero', 'known', 'unknown'];

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function seededRandom(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

/** Lets other tasks run: a microtask, a macrotask, or a short timer, at random. */
function interleave(random: (below: number) => number): Promise<void> {
  switch (random(4)) {
    case 0:
      return Promise.resolve();
    case 1:
      return new Promise((resolve) => setImmediate(resolve));
    case 2:
      return new Promise((resolve) => setTimeout(resolve, random(3)));
    default:
      return new Promise((resolve) => process.nextTick(resolve));
  }
}

function randomBatch(random: (below: number) => number, label: string): EventDraft[] {
  return Array.from({ length: 1 + random(4) }, (_, index): EventDraft => {
    if (random(2) === 0) {
      return {
        kind: 'execution.progress',
        payload: { percent: random(101), step: `${label}.${index}` },
      };
    }
    return { kind: 'execution.timeline_appended', payload: { message: `${label}.${index}` } };
  });
}

interface Joined {
  choice: StartChoice;
  startSequence: number;
  reader: ReturnType<typeof collect>;
}

async function join(
  streams: ExecutionStreams,
  operationId: string,
  choice: StartChoice,
  random: (below: number) => number,
): Promise<Joined> {
  if (choice === 'known') {
    const known = await allEvents(streams, operationId);
    const from = known[random(known.length)] as Envelope;
    const subscription = await streams.subscribe(operationId, { cursor: from.cursor });
    return { choice, startSequence: from.sequence, reader: collect(subscription) };
  }
  const cursor = choice === 'none' ? null : choice === 'zero' ? '0' : '1-1';
  const subscription = await streams.subscribe(operationId, { cursor });
  return { choice, startSequence: 0, reader: collect(subscription) };
}

/** Checks one subscriber against the stored history and the final snapshot. */
function verify(
  joined: Joined,
  history: Envelope[],
  record: ExecutionRecord,
  final: ExecutionSnapshot,
  seed: number,
): void {
  const label = `seed ${seed}, ${joined.choice} start`;
  const events = joined.reader.events;
  let base: ExecutionSnapshot;
  let rest: Envelope[];
  if (joined.choice === 'none' || joined.choice === 'unknown') {
    const [head, ...tail] = events;
    expect(head?.kind, label).toBe('execution.snapshot');
    base = head?.payload as ExecutionSnapshot;
    rest = tail;
  } else {
    base = foldFrom(record, history.slice(0, joined.startSequence));
    rest = events;
  }
  const expectedSequences = Array.from(
    { length: final.sequence - base.sequence },
    (_, index) => base.sequence + index + 1,
  );
  expect(sequencesOf(rest), label).toEqual(expectedSequences);
  expect(rest.map(serializeEnvelope), label).toEqual(
    history.slice(base.sequence).map(serializeEnvelope),
  );
  expect(foldFrom(base, rest), label).toEqual(final);
}

export function handoverRules(target: ConformanceTarget): void {
  const runs = target.handoverRuns ?? 300;

  describe('replay-to-live hand-over', () => {
    it(`keeps every subscriber gapless, duplicate-free and equal to the stored snapshot over ${runs} randomised runs`, async () => {
      // A small live queue makes slow readers fall back to the store now and then, too.
      await using streams = await openService(target, { maxQueuedEvents: 16 });
      for (let run = 0; run < runs; run++) {
        const seed = 0x5eed + run;
        const random = seededRandom(seed);
        const { operationId } = await startExecution(streams, `owner-${run % 7}`);
        const joined: Joined[] = [];

        const produce = async (label: string) => {
          const batches = 2 + random(8);
          for (let index = 0; index < batches; index++) {
            await interleave(random);
            await streams.append(operationId, randomBatch(random, `${label}${index}`));
          }
        };
        const subscribe = async () => {
          const count = 1 + random(4);
          for (let index = 0; index < count; index++) {
            await interleave(random);
            const choice = START_CHOICES[random(START_CHOICES.length)] as StartChoice;
            joined.push(await join(streams, operationId, choice, random));
          }
        };
        await Promise.all([produce('a'), produce('b'), subscribe(), subscribe()]);
        await streams.append(operationId, [
          { kind: 'execution.result', payload: { output: { run } } },
          { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
        ]);
        await Promise.all(joined.map((entry) => entry.reader.done));

        const history = await allEvents(streams, operationId);
        const record = await streams.getRecord(operationId);
        if (!record) throw new Error(`seed ${seed}: record missing`);
        const final = await streams.getSnapshot(operationId);
        expect(foldFrom(record, history), `seed ${seed}: stored snapshot is the fold`).toEqual(
          final,
        );
        for (const entry of joined) verify(entry, history, record, final, seed);
      }
      expect(streams.stats()).toEqual({ subscriptions: 0, listeners: 0 });
    });
  });
}
