import { ExecutionProducer } from '@execstream/stream-service';
import { fetchServerSentEvents, GenerationClient } from '@tanstack/ai-client';
import { describe, expect, it } from 'vitest';
import { agUiUrl } from './support/ag-ui.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within 20 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** TanStack AI's generation client on its SSE connection, recording what it sends and renders. */
function generationClient(url: string) {
  const requests: Headers[] = [];
  const progress: { value: number; message?: string }[] = [];
  const results: unknown[] = [];
  const errors: Error[] = [];
  const connection = fetchServerSentEvents(url, {
    headers: { 'X-API-KEY': OWNER_A.key },
    fetchClient: (input, init) => {
      requests.push(new Headers(init?.headers));
      return fetch(input, init);
    },
    reconnect: { delayMs: 50 },
  });
  const client = new GenerationClient<Record<string, never>, unknown>({
    connection,
    onProgress: (value, message) =>
      progress.push(message === undefined ? { value } : { value, message }),
    onResultChange: (result) => results.push(result),
    onError: (error) => errors.push(error),
  });
  return { client, requests, progress, results, errors };
}

describe('the AG-UI stream with TanStack AI’s generation client', () => {
  it('delivers progress and the result as it reads them, and reconnects with Last-Event-ID rendering nothing twice', async () => {
    // Streams end after 1 s, so the client reconnects by itself mid-run.
    await using server = await startTestServer({ EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000' });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    await producer.progress(10, { step: 'quote', message: 'Quoting' });

    const seen = generationClient(agUiUrl(server.url, operationId));
    const generating = seen.client.generate({});
    await until(() => seen.progress.length === 1, 'the first progress');
    await producer.progress(25, { step: 'quote', message: 'Quoted' });
    await until(() => seen.progress.length === 2, 'the second progress');
    // The first response ends at its lifetime; the client comes back with its last id.
    await until(() => seen.requests.length >= 2, 'a reconnect');
    await producer.progress(60, { step: 'swap', message: 'Swapping' });
    await producer.timeline('Swap submitted onchain', { step: 'swap', txHash: '0xabc' });
    await producer.complete({ bought: '1.5 ETH' }, 'Swapped 1 ETH');
    await generating;

    expect(seen.errors).toEqual([]);
    expect(seen.client.getStatus()).toBe('success');
    // Every progress event once, in order, whatever the reconnects.
    expect(seen.progress).toEqual([
      { value: 10, message: 'Quoting' },
      { value: 25, message: 'Quoted' },
      { value: 60, message: 'Swapping' },
    ]);
    expect(seen.results).toEqual([{ output: { bought: '1.5 ETH' }, summary: 'Swapped 1 ETH' }]);
    expect(seen.client.getResult()).toEqual({
      output: { bought: '1.5 ETH' },
      summary: 'Swapped 1 ETH',
    });
    // The first request has no cursor; every reconnect sends the id of the last frame it took.
    expect(seen.requests[0]?.get('last-event-id')).toBeNull();
    const resumedFrom = seen.requests.slice(1).map((headers) => headers.get('last-event-id'));
    expect(resumedFrom.length).toBeGreaterThan(0);
    for (const id of resumedFrom) expect(id).toMatch(/^\d+-\d+(\/(\d+|s\d+-[0-9a-f]{8}))?$/);
    const snapshot = await trpcClient(server.url, OWNER_A.key).v2.executions.get.query({
      operationId,
    });
    expect(snapshot.status).toBe('completed');
  });

  it('reports a failed execution as an error with its message', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'bridge' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();
    await producer.progress(40, { step: 'relay' });
    await producer.fail({ code: 'RELAY_DOWN', message: 'The relayer is down' });

    const seen = generationClient(agUiUrl(server.url, record.operationId));
    await seen.client.generate({});
    expect(seen.client.getStatus()).toBe('error');
    expect(seen.errors.map((error) => error.message)).toEqual(['The relayer is down']);
    expect(seen.progress).toEqual([{ value: 40 }]);
  });
});
