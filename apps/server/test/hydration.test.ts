import { type Envelope, type ExecutionSnapshot, foldExecution } from '@execstream/event-schema';
import { ExecutionProducer } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { OWNER_A, startTestServer } from './support/server.ts';
import { collectSubscription, trpcClient } from './support/trpc.ts';

describe('hydration: get, then stream from snapshot.cursor', () => {
  it('misses nothing and repeats nothing while appends race', async () => {
    await using server = await startTestServer();
    const client = trpcClient(server.url, OWNER_A.key);
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'rebalance' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();

    // Each hydration takes its snapshot after more appends than the one before (awaited, so the
    // order is fixed: every snapshot stands at its own point of the run), then subscribes from its
    // cursor while the next appends land, so its hand-over from the cursor to the live tail races
    // them.
    const hydrations = 12;
    const appendsBetween = 25;
    let index = 0;
    const append = async (count: number) => {
      for (let step = 0; step < count; step++) {
        index++;
        await producer.progress(index % 100, { message: `step ${index}` });
      }
    };
    const running: Promise<{ snapshot: ExecutionSnapshot; events: Envelope[]; error: unknown }>[] =
      [];
    for (let hydration = 0; hydration < hydrations; hydration++) {
      await append(appendsBetween);
      const snapshot = await client.v2.executions.get.query({ operationId });
      running.push(
        collectSubscription(client, { operationId, lastEventId: snapshot.cursor }).then((read) => ({
          snapshot,
          ...read,
        })),
      );
    }
    await append(appendsBetween);
    await producer.complete({ steps: index });
    const results = await Promise.all(running);
    const final = await client.v2.executions.get.query({ operationId });
    expect(final.status).toBe('completed');

    const startingPoints = new Set<number>();
    for (const { snapshot, events, error } of results) {
      expect(error).toBeNull();
      startingPoints.add(snapshot.sequence);
      // Exactly the events after the snapshot, each once, in order, up to the terminal one.
      expect(events.map((event: Envelope) => event.sequence)).toEqual(
        Array.from(
          { length: final.sequence - snapshot.sequence },
          (_, i) => snapshot.sequence + i + 1,
        ),
      );
      // And the client-side fold lands on the server's final snapshot.
      expect(foldExecution(snapshot, events)).toEqual(final);
    }
    // Every hydration started from a point of its own.
    expect(startingPoints.size).toBe(hydrations);
  });
});
