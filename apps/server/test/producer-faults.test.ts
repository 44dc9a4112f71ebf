import type { ProgressPayload } from '@execstream/event-schema';
import { startRedisServer } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { openRedisStores } from '../src/index.ts';
import { producerCall } from './support/producer.ts';
import { OWNER_A, startServerOn, startTestServer } from './support/server.ts';
import { eventData, readSse } from './support/sse.ts';
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

describe.each(['memory', 'redis'] as const)(
  "a user's cancel racing a worker's appends, on %s",
  (backend) => {
    it('the worker is told 409 EXECUTION_TERMINAL and stops; readers see cancelled last', async () => {
      await using server = await startServerOn(backend);
      const client = trpcClient(server.url, OWNER_A.key);
      const { operationId } = await client.v2.executions.submit.mutate({ type: 'swap' });
      const reader = readSse(`${server.url}/v1/executions/${operationId}/stream?lastEventId=0`, {
        'X-API-KEY': OWNER_A.key,
      });
      const claim = await producerCall(server.url, 'POST', '/v1/producer/claims', {
        leaseMs: 60_000,
      });
      const leaseToken = claim.body.lease.token as string;
      const path = `/v1/producer/executions/${operationId}/events`;
      const start = [
        { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
      ];
      expect(
        (await producerCall(server.url, 'POST', path, { events: start, leaseToken })).status,
      ).toBe(201);
      // Four workers' worth of appends back to back, while the owner cancels.
      const answers: { status: number; code?: string }[] = [];
      const appender = async () => {
        for (let index = 0; ; index++) {
          const answer = await producerCall(server.url, 'POST', path, {
            events: [{ kind: 'execution.progress', payload: { percent: index % 100 } }],
            leaseToken,
          });
          answers.push({ status: answer.status, code: answer.body?.error?.code });
          if (answer.status !== 201) return answer;
        }
      };
      const appenders = Array.from({ length: 4 }, appender);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const cancelled = await client.v2.executions.cancel.mutate({ operationId });
      expect(cancelled.status).toBe('cancelled');
      for (const stopped of await Promise.all(appenders)) {
        expect(stopped.status).toBe(409);
        expect(stopped.body.error.code).toBe('EXECUTION_TERMINAL');
      }
      expect(answers.filter((answer) => answer.status !== 201 && answer.status !== 409)).toEqual(
        [],
      );
      const events = eventData(await reader).map((data) => JSON.parse(data));
      expect(events.at(-1)).toMatchObject({
        kind: 'execution.state_changed',
        payload: { to: 'cancelled' },
      });
      expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
      expect(answers.filter((answer) => answer.status === 201).length).toBe(events.length - 3);
    });
  },
);
