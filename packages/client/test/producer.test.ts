import { OWNER_A, PRODUCER, startTestServer } from '@execstream/server/test-support';
import { describe, expect, it } from 'vitest';
import {
  type ClaimedRun,
  createExecstreamClient,
  createProducer,
  ExecstreamError,
  followExecution,
} from '../src/index.ts';

const credentials = { apiKey: OWNER_A.key };

describe('createProducer against a real server', () => {
  it('claims a submitted run, reports it to completed while a follower sees every step', async () => {
    await using server = await startTestServer();
    const client = createExecstreamClient({ baseUrl: server.url, credentials });
    const { operationId } = await client.submit({ type: 'bridge', params: { amount: '3' } });
    const follow = followExecution({ baseUrl: server.url, operationId, credentials });
    const seen: string[] = [];
    const following = (async () => {
      for await (const update of follow) seen.push(update.envelope.kind);
    })();

    const producer = createProducer({
      baseUrl: server.url,
      producerKey: PRODUCER.key,
      leaseMs: 3_000,
      waitMs: 1_000,
    });
    const stop = new AbortController();
    const handled: ClaimedRun[] = [];
    await producer.work(
      async (run) => {
        handled.push(run);
        expect(run).toMatchObject({ operationId, ownerId: 'owner-a', params: { amount: '3' } });
        await run.start('picked up');
        // Outlives the lease several times over: the renewals keep it.
        for (const percent of [25, 50, 75]) {
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          await run.progress(percent, { step: 'bridge' });
        }
        await run.timeline('Delivered', { txHash: '0xabc', chainId: 10 });
        await run.complete({ delivered: '3' }, 'Bridged 3');
        stop.abort();
      },
      { signal: stop.signal },
    );
    await following;
    expect(handled).toHaveLength(1);
    expect(handled[0]?.signal.aborted).toBe(true);
    expect(seen).toEqual([
      'execution.snapshot',
      'execution.state_changed',
      'execution.progress',
      'execution.progress',
      'execution.progress',
      'execution.timeline_appended',
      'execution.result',
      'execution.state_changed',
    ]);
    expect(follow.snapshot).toEqual(await client.get(operationId));
    expect(follow.snapshot).toMatchObject({
      status: 'completed',
      result: { summary: 'Bridged 3' },
    });
  });

  it("stops a run on a user's cancel: EXECUTION_TERMINAL, and its signal aborts", async () => {
    await using server = await startTestServer();
    const client = createExecstreamClient({ baseUrl: server.url, credentials });
    const { operationId } = await client.submit({ type: 'swap' });
    const producer = createProducer({ baseUrl: server.url, producerKey: PRODUCER.key });
    const run = await producer.claim();
    expect(run?.operationId).toBe(operationId);
    await run?.start();
    await client.cancel(operationId);
    const refused = await run?.progress(10).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ExecstreamError);
    expect(refused).toMatchObject({ code: 'EXECUTION_TERMINAL', status: 409 });
    expect(run?.signal.aborted).toBe(true);
    expect((await client.get(operationId)).status).toBe('cancelled');
  });
});
