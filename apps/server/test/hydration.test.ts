import { type Envelope, foldExecution } from '@execstream/event-schema';
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

    // Appends go on until every hydration has taken its snapshot, so each one races them.
    let snapshotsTaken = 0;
    const hydrations = 12;
    const appending = (async () => {
      let index = 0;
      while (index < 400 || snapshotsTaken < hydrations) {
        index++;
        await producer.progress(index % 100, { message: `step ${index}` });
        // Yield now and then, so hydrations land at many points of the run.
        if (index % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await producer.complete({ steps: index });
    })();

    const hydrate = async () => {
      const snapshot = await client.v2.executions.get.query({ operationId });
      snapshotsTaken++;
      const { events, error } = await collectSubscription(client, {
        operationId,
        lastEventId: snapshot.cursor,
      });
      return { snapshot, events, error };
    };
    const running: ReturnType<typeof hydrate>[] = [];
    for (let index = 0; index < hydrations; index++) {
      running.push(hydrate());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await appending;
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
    // The hydrations really did race the appends: they started from different points.
    expect(startingPoints.size).toBeGreaterThan(1);
  });
});
