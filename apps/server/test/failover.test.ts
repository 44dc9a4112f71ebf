import { EVENT_KINDS } from '@execstream/event-schema';
import { startRedisServer } from '@execstream/redis-testing';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { redisServerEnv, spawnServer } from './support/process.ts';
import { OWNER_A } from './support/server.ts';

describe('failover: the server process dies mid-run', () => {
  it('an EventSource follows the run through a second instance, gapless, then gets 204 and stops', async () => {
    await using redis = await startRedisServer();
    const env = redisServerEnv(redis.url, {
      EXECSTREAM_LEASE_TTL_MS: '1000',
      EXECSTREAM_SSE_RETRY_MS: '200',
    });
    const first = await spawnServer(env);
    const { port } = new URL(first.url);
    const submitted = await fetch(`${first.url}/v1/trpc/v2.executions.submit`, {
      method: 'POST',
      headers: { 'X-API-KEY': OWNER_A.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'swap', params: { simulate: { steps: 40, intervalMs: 100 } } }),
    });
    const { operationId } = (
      (await submitted.json()) as { result: { data: { operationId: string } } }
    ).result.data;

    const received: { id: string; sequence: number; kind: string }[] = [];
    const statuses: number[] = [];
    let requests = 0;
    const source = new EventSource(`${first.url}/v1/executions/${operationId}/stream`, {
      fetch: async (input, init) => {
        requests++;
        const response = await fetch(input, {
          ...init,
          headers: { ...init?.headers, 'X-API-KEY': OWNER_A.key },
        });
        statuses.push(response.status);
        return response;
      },
    });
    let killed = false;
    let second: Awaited<ReturnType<typeof spawnServer>> | null = null;
    const closed = new Promise<void>((resolve) => {
      source.addEventListener('error', () => {
        if (source.readyState === EventSource.CLOSED) resolve();
      });
    });
    let tenReceived!: () => void;
    const tenEvents = new Promise<void>((resolve) => {
      tenReceived = resolve;
    });
    for (const kind of EVENT_KINDS) {
      source.addEventListener(kind, (event) => {
        const envelope = JSON.parse(event.data);
        expect(event.lastEventId).toBe(envelope.cursor);
        received.push({ id: envelope.cursor, sequence: envelope.sequence, kind });
        if (received.length >= 10) tenReceived();
      });
    }
    try {
      await tenEvents;
      // The process dies without a word: no shutdown, no lease released.
      await first.kill('SIGKILL');
      killed = true;
      second = await spawnServer({ ...env, PORT: port as string });
      await closed;
      const settledRequests = requests;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      // 204 at the end, and no reconnect after it.
      expect(statuses.at(-1)).toBe(204);
      expect(requests).toBe(settledRequests);
    } finally {
      source.close();
      await second?.kill('SIGTERM');
      await first.kill('SIGKILL');
    }
    expect(killed).toBe(true);
    // Reconnected by itself at least once through the outage, each time with 200 until the end.
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(2);

    const [snapshot, ...events] = received;
    expect(snapshot?.kind).toBe('execution.snapshot');
    const sequences = events.map((event) => event.sequence);
    // Gapless and duplicate-free from the snapshot to the terminal event: 44 events in all.
    expect(sequences).toEqual(
      Array.from(
        { length: 44 - (snapshot?.sequence ?? 0) },
        (_, i) => (snapshot?.sequence ?? 0) + i + 1,
      ),
    );
    expect(received.at(-1)?.kind).toBe('execution.state_changed');
  });
});
