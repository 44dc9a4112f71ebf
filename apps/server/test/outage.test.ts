import { type Envelope, EVENT_KINDS } from '@execstream/event-schema';
import { startRedisServer } from '@execstream/redis-testing';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { spawnServer } from './support/process.ts';
import { OWNER_A } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

/** From the snapshot on, every sequence once and in order, up to the terminal event. */
function expectGapless(received: { kind: string; sequence: number }[], total: number): void {
  const [snapshot, ...events] = received;
  expect(snapshot?.kind).toBe('execution.snapshot');
  const from = snapshot?.sequence ?? 0;
  expect(events.map((event) => event.sequence)).toEqual(
    Array.from({ length: total - from }, (_, index) => from + index + 1),
  );
}

describe('a Redis outage under open streams (CONTRACT §5)', () => {
  it('an EventSource and a tRPC subscription ride through a Redis restart and a 10 s SIGSTOP, each event once', async () => {
    await using redis = await startRedisServer();
    await using server = await spawnServer({
      REDIS_URL: redis.url,
      PORT: '0',
      EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId}`,
      EXECSTREAM_DEMO: 'on',
      EXECSTREAM_SSE_RETRY_MS: '200',
      EXECSTREAM_PING_INTERVAL_MS: '1000',
      // Streams end every 2 s and the clients come back, so that they reconnect during the outage.
      EXECSTREAM_STREAM_MAX_LIFETIME_MS: '2000',
    });
    const client = trpcClient(server.url, OWNER_A.key);
    const steps = 60;
    const { operationId } = await client.v2.executions.submit.mutate({
      type: 'swap',
      params: { simulate: { steps, intervalMs: 150 } },
    });

    // The raw route, with the spec-compliant EventSource: it reconnects only on its own rules.
    const received: { kind: string; sequence: number }[] = [];
    const statuses: number[] = [];
    const source = new EventSource(`${server.url}/v1/executions/${operationId}/stream`, {
      fetch: async (input, init) => {
        const response = await fetch(input, {
          ...init,
          headers: { ...init?.headers, 'X-API-KEY': OWNER_A.key },
        });
        statuses.push(response.status);
        return response;
      },
    });
    const sseClosed = new Promise<void>((resolve) => {
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) resolve();
      });
    });
    for (const kind of EVENT_KINDS) {
      source.addEventListener(kind, (event) => {
        received.push({ kind, sequence: (JSON.parse(event.data) as Envelope).sequence });
      });
    }

    // The tRPC subscription, with the real client and its link's own reconnects.
    const viaTrpc: Envelope[] = [];
    let trpcError: unknown = null;
    const trpcDone = new Promise<void>((resolve) => {
      client.v2.executions.stream.subscribe(
        { operationId },
        {
          onData: (tracked) => viaTrpc.push(tracked.data),
          onComplete: resolve,
          onError: (error) => {
            trpcError = error;
            resolve();
          },
        },
      );
    });

    try {
      await until(() => received.length >= 5 && viaTrpc.length >= 5, 'the first events');
      const beforeRestart = statuses.length;
      await redis.restart({ downForMs: 3_000 });
      const duringRestart = statuses.length - beforeRestart;
      const afterRestart = received.length;
      await until(() => received.length >= afterRestart + 5, 'events after the restart');
      redis.pause();
      const beforeStall = statuses.length;
      await sleep(10_000);
      const duringStall = statuses.length - beforeStall;
      redis.resume();
      // The client came back by itself while Redis was down and while it stalled.
      expect(duringRestart).toBeGreaterThan(0);
      expect(duringStall).toBeGreaterThan(0);
      await Promise.race([
        Promise.all([sseClosed, trpcDone]),
        sleep(60_000).then(() => {
          throw new Error('the streams did not end within 60 s of the outage');
        }),
      ]);
    } finally {
      source.close();
    }

    // The raw route: never a status that ends an EventSource, reconnected by itself, 204 last.
    expect(statuses.filter((status) => status !== 200 && status !== 204)).toEqual([]);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(5);
    expect(statuses.at(-1)).toBe(204);
    // 2 state changes, the timeline and progress of each step, the result: as the plan says.
    const total = received.at(-1)?.sequence ?? 0;
    expect(received.at(-1)?.kind).toBe('execution.state_changed');
    expectGapless(received, total);

    expect(trpcError).toBeNull();
    expectGapless(
      viaTrpc.map((envelope) => ({ kind: envelope.kind, sequence: envelope.sequence })),
      total,
    );
    const final = await client.v2.executions.get.query({ operationId });
    expect(final.status).toBe('completed');
    expect(final.sequence).toBe(total);
  }, 120_000);
});
