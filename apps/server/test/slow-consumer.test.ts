import { SseDecoder, type SseMessage } from '@execstream/event-schema';
import { ExecutionProducer } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { stalledReader, surfaceMetric } from './support/http.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { readSse } from './support/sse.ts';
import { collectSubscription, trpcClient, trpcStreamUrl } from './support/trpc.ts';

const BOUND = 64 * 1024;

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/** What differs between the two surfaces for a reader that stops reading. */
interface Surface {
  name: 'sse' | 'trpc';
  /** The path and query that stream the execution from its first event. */
  pathFromStart(baseUrl: string, operationId: string): string;
  /** The events of a body: tRPC's `connected` and `ping` messages are not events. */
  isEvent(message: SseMessage): boolean;
  /** The sequences of everything after `cursor`, read to the end as a client of the surface. */
  resume(server: TestServer, operationId: string, cursor: string): Promise<number[]>;
}

const SURFACES: Surface[] = [
  {
    name: 'sse',
    pathFromStart: (_baseUrl, operationId) => `/v1/executions/${operationId}/stream?lastEventId=0`,
    isEvent: (message) => message.event.startsWith('execution.'),
    async resume(server, operationId, cursor) {
      const after = await readSse(`${server.url}/v1/executions/${operationId}/stream`, {
        'X-API-KEY': OWNER_A.key,
        'Last-Event-ID': cursor,
      });
      return after.messages.map((message) => JSON.parse(message.data).sequence);
    },
  },
  {
    name: 'trpc',
    pathFromStart(baseUrl, operationId) {
      const url = new URL(trpcStreamUrl(baseUrl, { operationId, lastEventId: '0' }));
      return `${url.pathname}${url.search}`;
    },
    isEvent: (message) => message.event === 'message',
    async resume(server, operationId, cursor) {
      // The real client, as the web app would resume.
      const after = await collectSubscription(trpcClient(server.url, OWNER_A.key), {
        operationId,
        lastEventId: cursor,
      });
      expect(after.error).toBeNull();
      return after.events.map((event) => event.sequence);
    },
  },
];

describe.each(SURFACES)('a reader that stops reading ($name)', (surface) => {
  const metric = (baseUrl: string, name: string) => surfaceMetric(baseUrl, name, surface.name);

  it('is disconnected at the backlog bound with flat server memory, then resumes losslessly', async () => {
    await using server = await startTestServer({ EXECSTREAM_MAX_BACKLOG_BYTES: String(BOUND) });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();

    // A raw socket that reads the response headers, then stops reading altogether.
    const reader = await stalledReader(
      server.url,
      surface.pathFromStart(server.url, record.operationId),
      OWNER_A.key,
    );

    // 40 MB of events: far more than the socket buffers and the bound together hold.
    const blob = 'x'.repeat(50_000);
    let maxBacklog = 0;
    for (let index = 0; index < 800; index++) {
      await producer.timeline(`chunk ${index}`, { data: { blob } });
      if (index % 50 === 0)
        maxBacklog = Math.max(
          maxBacklog,
          await metric(server.url, 'execstream_stream_backlog_bytes'),
        );
    }
    await producer.complete({ chunks: 800 });
    expect(await metric(server.url, 'execstream_slow_consumer_disconnects_total')).toBe(1);
    // What the server held for this reader never passed the bound plus one event.
    expect(maxBacklog).toBeLessThanOrEqual(BOUND + 60_000);
    expect(await metric(server.url, 'execstream_stream_backlog_bytes')).toBe(0);
    expect(await metric(server.url, 'execstream_streams_active')).toBe(0);

    // The reader wakes up and reads what reached it before the server let go.
    const before = new SseDecoder().push(await reader.wake()).filter(surface.isEvent);
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(803);

    // It resumes from the last cursor it holds and gets everything else.
    const last = before.at(-1) as SseMessage;
    const after = await surface.resume(server, record.operationId, last.lastEventId);
    const sequences = [...before.map((m) => JSON.parse(m.data).sequence), ...after];
    expect(sequences).toEqual(Array.from({ length: 804 }, (_, i) => i + 1));
  });
});
