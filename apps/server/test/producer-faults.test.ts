import type { ProgressPayload } from '@execstream/event-schema';
import { startRedisServer } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { openRedisStores } from '../src/index.ts';
import { producerCall } from './support/producer.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';

const STEPS = 60;

describe('a worker retrying every append blindly', () => {
  it('across a Redis restart: every step lands once, whatever was retried', async () => {
    await using redis = await startRedisServer();
    await using server = await startTestServer(
      {},
      { stores: await openRedisStores(redis.url, () => {}) },
    );
    const client = trpcClient(server.url, OWNER_A.key);
    const { operationId } = await client.v2.executions.submit.mutate({ type: 'withdraw' });
    const claim = await producerCall(server.url, 'POST', '/v1/producer/claims', {
      leaseMs: 120_000,
    });
    const leaseToken = claim.body.lease.token as string;
    const path = `/v1/producer/executions/${operationId}/events`;
    const refusals = new Map<string, number>();

    /** Sends until it gets a 201, with the same key and body every time. */
    const blindly = async (key: string, events: unknown[]) => {
      for (;;) {
        const answer = await producerCall(
          server.url,
          'POST',
          path,
          { events, leaseToken },
          { 'Idempotency-Key': key },
        ).catch(() => null);
        if (answer?.status === 201) return answer.body;
        const why = answer ? `${answer.status} ${answer.body?.error?.code}` : 'no answer';
        refusals.set(why, (refusals.get(why) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    let restarted: Promise<void> | null = null;
    await blindly('start', [
      { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
    ]);
    for (let step = 1; step <= STEPS; step++) {
      const events = [
        { kind: 'execution.progress', payload: { percent: step, message: `step ${step}` } },
      ];
      // A third of the way in, Redis goes away for a second and a half, mid-run.
      if (step === STEPS / 3) restarted = redis.restart({ downForMs: 1_500 });
      const first = await blindly(`step-${step}`, events);
      // And every append is sent again, as a worker does that never saw its answer.
      const again = await blindly(`step-${step}`, events);
      expect(again).toEqual(first);
    }
    await restarted;
    await blindly('end', [
      { kind: 'execution.result', payload: { output: { steps: STEPS } } },
      { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
    ]);
    // Redis was away: some appends were refused (503) or went unanswered, and were retried.
    expect([...refusals.keys()].some((why) => why.startsWith('503') || why === 'no answer')).toBe(
      true,
    );
    const { events, snapshot } = await client.v2.executions.detail.query({
      operationId,
      limit: 1000,
    });
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    const steps = events
      .filter((event) => event.kind === 'execution.progress')
      .map((event) => (event.payload as ProgressPayload).percent);
    expect(steps).toEqual(Array.from({ length: STEPS }, (_, index) => index + 1));
    expect(events).toHaveLength(1 + 1 + STEPS + 2);
    expect(snapshot.status).toBe('completed');
  });
});
