import { ExecutionProducer } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { OWNER_A, startTestServer } from './support/server.ts';
import { collectSubscription, trpcClient } from './support/trpc.ts';

async function metric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith(`${name}{surface="trpc"}`));
  return Number(line?.split(' ').at(-1));
}

describe('the tRPC subscription over several responses', () => {
  it("follows an execution across several maximum lifetimes through the link's own reconnects", async () => {
    await using server = await startTestServer({ EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000' });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();

    const following = collectSubscription(trpcClient(server.url, OWNER_A.key), { operationId });
    // Appends go on until the link has come back with its cursor twice (each such request counts
    // as a replay), so the run spans at least two ended responses whatever the timing.
    const deadline = Date.now() + 20_000;
    let step = 0;
    while ((await metric(server.url, 'execstream_stream_replays_total')) < 2) {
      if (Date.now() > deadline) throw new Error('the link did not reconnect twice within 20 s');
      step++;
      await producer.progress(step % 100, { message: `step ${step}` });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await producer.complete({ steps: step });
    const { events, error } = await following;
    expect(error).toBeNull();
    // One subscription, several responses: a snapshot, then every later event once, in order,
    // to the last (accepted, running, the steps, result, completed).
    const [snapshot, ...rest] = events;
    expect(snapshot?.kind).toBe('execution.snapshot');
    const first = (snapshot?.sequence ?? 0) + 1;
    const last = step + 4;
    expect(rest.map((event) => event.sequence)).toEqual(
      Array.from({ length: last - first + 1 }, (_, i) => first + i),
    );
    expect(rest.at(-1)?.payload).toMatchObject({ to: 'completed' });
  });
});
