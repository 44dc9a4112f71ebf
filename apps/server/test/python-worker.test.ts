import type { Envelope } from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { spawnPythonWorker } from './support/python-worker.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { eventData, readSse } from './support/sse.ts';
import { collectSubscription, trpcClient } from './support/trpc.ts';

/** Runs the example worker for one run; resolves with its exit code and what it printed. */
function runWorker(url: string, args: string[]) {
  return spawnPythonWorker(url, args).exited;
}

describe('the Python worker (examples/python-worker, urllib only)', () => {
  it('claims a submitted run and reports it to completed while SSE and tRPC readers follow', async () => {
    await using server = await startTestServer();
    const client = trpcClient(server.url, OWNER_A.key);
    const { operationId } = await client.v2.executions.submit.mutate({ type: 'rebalance' });
    const sse = readSse(`${server.url}/v1/executions/${operationId}/stream`, {
      'X-API-KEY': OWNER_A.key,
    });
    const subscription = collectSubscription(client, { operationId });

    const worker = await runWorker(server.url, ['--steps', '4', '--interval', '0.05']);
    expect(worker.stderr).toBe('');
    expect(worker.code).toBe(0);
    expect(worker.stdout).toContain(`{"completed": "${operationId}"}`);

    const raw = eventData(await sse);
    const viaTrpc = await subscription;
    expect(viaTrpc.error).toBeNull();
    // Both surfaces carry the same envelopes, byte for byte.
    expect(viaTrpc.events.map((event) => JSON.stringify(event))).toEqual(raw);
    const events = raw.map((data) => JSON.parse(data) as Envelope);
    expect(events[0]?.kind).toBe('execution.snapshot');
    expect(events.slice(1).map((event) => [event.kind, event.payload])).toEqual([
      [
        'execution.state_changed',
        { from: 'accepted', to: 'running', reason: 'Picked up by the Python worker' },
      ],
      ...[25, 50, 75, 100].map((percent, index) => [
        'execution.progress',
        { percent, step: 'work', message: `Step ${index + 1} of 4` },
      ]),
      ['execution.timeline_appended', { message: 'Work done in Python', step: 'work' }],
      ['execution.result', { output: { worker: 'python', steps: 4 }, summary: '4 steps done' }],
      ['execution.state_changed', { from: 'running', to: 'completed' }],
    ]);
    const snapshot = await client.v2.executions.get.query({ operationId });
    expect(snapshot).toMatchObject({ status: 'completed', sequence: 9 });
    expect(events.at(-1)?.cursor).toBe(snapshot.cursor);
  });

  it('stops when the user cancels the run it holds (409 EXECUTION_TERMINAL)', async () => {
    await using server = await startTestServer();
    const client = trpcClient(server.url, OWNER_A.key);
    const { operationId } = await client.v2.executions.submit.mutate({ type: 'swap' });
    const worker = runWorker(server.url, ['--steps', '200', '--interval', '0.05']);
    for (;;) {
      const snapshot = await client.v2.executions.get.query({ operationId });
      if ((snapshot.progress?.percent ?? 0) >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await client.v2.executions.cancel.mutate({ operationId });
    const { code, stdout } = await worker;
    expect(code).toBe(0);
    expect(stdout).toContain(`{"stopped": "${operationId}", "why": "EXECUTION_TERMINAL"}`);
    const { events } = await client.v2.executions.detail.query({ operationId, limit: 1000 });
    expect(events.at(-1)?.payload).toMatchObject({ to: 'cancelled' });
  });
});
