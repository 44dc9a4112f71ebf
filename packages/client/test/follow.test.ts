import { OWNER_A, startTestServer } from '@execstream/server/test-support';
import { describe, expect, it } from 'vitest';
import {
  createExecstreamClient,
  ExecstreamError,
  type FollowUpdate,
  followExecution,
} from '../src/index.ts';

const credentials = { apiKey: OWNER_A.key };

async function collect(iterable: AsyncIterable<FollowUpdate>): Promise<FollowUpdate[]> {
  const updates: FollowUpdate[] = [];
  for await (const update of iterable) updates.push(update);
  return updates;
}

describe('followExecution against a real server', () => {
  it('hydrates, follows across the server ending streams at their lifetime, and stops at the terminal event with the snapshot get returns', async () => {
    // Streams end after 1 s with `retry: 50`: a run of ~3 s is followed over several connections.
    await using server = await startTestServer({
      EXECSTREAM_DEMO: 'on',
      EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000',
      EXECSTREAM_SSE_RETRY_MS: '50',
    });
    const client = createExecstreamClient({ baseUrl: server.url, credentials });
    const { operationId } = await client.submit({
      type: 'swap',
      params: { simulate: { steps: 30, intervalMs: 100, outcome: 'completed' } },
    });
    const delays: number[] = [];
    const follow = followExecution({
      baseUrl: server.url,
      operationId,
      credentials,
      onRetry: ({ delayMs, error }) => {
        expect(error).toBeNull();
        delays.push(delayMs);
      },
    });
    const updates = await collect(follow);

    expect(updates[0]?.envelope.kind).toBe('execution.snapshot');
    expect(updates[0]?.replaced).toBe(true);
    // Each clean end is followed by a wait of the server's `retry: 50`, jittered within its half.
    expect(delays.length).toBeGreaterThan(0);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(25);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(50);
    const sequences = updates.slice(1).map((update) => update.envelope.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);
    const last = updates.at(-1);
    expect(last?.envelope.kind).toBe('execution.state_changed');
    expect(follow.end?.reason).toBe('terminal');
    expect(follow.snapshot).toEqual(await client.get(operationId));
    expect(follow.snapshot?.status).toBe('completed');
  });

  it('callback form: a foreign cursor gets a resync that replaces the state; a cursor at the end gets 204', async () => {
    await using server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    const client = createExecstreamClient({ baseUrl: server.url, credentials });
    const { operationId } = await client.submit({
      type: 'bridge',
      params: { simulate: { steps: 3, intervalMs: 0, outcome: 'failed' } },
    });
    const seen: FollowUpdate[] = [];
    // Well-formed, but no event of this stream: the server answers with a snapshot (a resync).
    const end = await followExecution(
      { baseUrl: server.url, operationId, credentials, cursor: '1-0' },
      (update) => {
        seen.push(update);
      },
    );
    expect(seen[0]?.envelope.kind).toBe('execution.snapshot');
    expect(seen[0]?.replaced).toBe(true);
    expect(end.snapshot).toEqual(await client.get(operationId));
    expect(end.snapshot?.status).toBe('failed');

    const again = await followExecution(
      { baseUrl: server.url, operationId, credentials, cursor: end.cursor },
      () => {
        throw new Error('nothing follows the last event');
      },
    );
    expect(again.reason).toBe('no-content');
  });

  it('refusals are errors with the contract code; an unreachable server gives up after maxRetries', async () => {
    await using server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    const missing = followExecution(
      { baseUrl: server.url, operationId: 'op_missing', credentials },
      () => {},
    );
    await expect(missing).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    const wrongKey = followExecution(
      {
        baseUrl: server.url,
        operationId: 'op_missing',
        credentials: { apiKey: 'esk_not-a-key-000000000' },
      },
      () => {},
    );
    await expect(wrongKey).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });

    const port = server.port;
    await server.close();
    const unreachable = followExecution(
      {
        baseUrl: `http://127.0.0.1:${port}`,
        operationId: 'op_gone',
        credentials,
        maxRetries: 2,
        initialDelayMs: 10,
      },
      () => {},
    );
    await expect(unreachable).rejects.toBeInstanceOf(ExecstreamError);
    await expect(unreachable).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('breaking out of the iteration closes the stream: its open-stream slot comes back', async () => {
    await using server = await startTestServer({
      EXECSTREAM_DEMO: 'on',
      EXECSTREAM_MAX_STREAMS_PER_OWNER: '1',
    });
    const client = createExecstreamClient({ baseUrl: server.url, credentials });
    const { operationId } = await client.submit({
      type: 'swap',
      params: { simulate: { steps: 1000, intervalMs: 50 } },
    });
    const follow = followExecution({ baseUrl: server.url, operationId, credentials });
    let count = 0;
    for await (const update of follow) {
      count += 1;
      if (update.envelope.kind === 'execution.progress') break;
    }
    expect(count).toBeGreaterThan(1);
    expect(follow.end).toBeNull();
    // The only slot is free again once the server has seen the connection close.
    let status = 429;
    while (status === 429) {
      const response = await fetch(`${server.url}/v1/executions/${operationId}/stream`, {
        headers: { 'x-api-key': OWNER_A.key },
      });
      status = response.status;
      await response.body?.cancel();
    }
    expect(status).toBe(200);
    await client.cancel(operationId);
  });
});
