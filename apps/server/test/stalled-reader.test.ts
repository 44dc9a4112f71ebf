import { ExecutionProducer } from '@execstream/stream-service';
import { afterEach, describe, expect, it } from 'vitest';
import { metric } from './support/metrics.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { trpcStreamUrl } from './support/trpc.ts';
import { type StalledReader, stalledReader } from './support/wire.ts';

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An execution with ~10 MB of history: more than the socket buffers and the backlog hold. */
async function executionWithLongHistory(server: TestServer): Promise<string> {
  const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
  const producer = await ExecutionProducer.attach(server.streams, record.operationId);
  await producer.start();
  const blob = 'x'.repeat(50_000);
  for (let index = 0; index < 200; index++) {
    await producer.timeline(`chunk ${index}`, { data: { blob } });
  }
  return record.operationId;
}

const readers: StalledReader[] = [];
afterEach(() => {
  for (const reader of readers.splice(0)) reader[Symbol.dispose]();
});

/** A raw socket that asks for `path` from the first event, takes the first bytes, then stalls. */
async function stallOn(baseUrl: string, path: string): Promise<void> {
  readers.push(
    await stalledReader(
      baseUrl,
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nX-API-KEY: ${OWNER_A.key}\r\nLast-Event-ID: 0\r\n\r\n`,
    ),
  );
}

async function stallOnBothSurfaces(server: TestServer, operationId: string): Promise<void> {
  await stallOn(server.url, `/v1/executions/${operationId}/stream`);
  const trpc = new URL(trpcStreamUrl(server.url, { operationId }));
  await stallOn(server.url, `${trpc.pathname}${trpc.search}`);
  // The replay to each reader stalled: the server holds their connections and backlog.
  expect(await metric(server.url, 'execstream_stream_backlog_bytes')).toBeGreaterThan(0);
  expect(await metric(server.url, 'execstream_http_connections_open')).toBe(3);
}

describe('a reader that stops reading and never resumes', () => {
  it('is disconnected at the maximum lifetime, on both surfaces', async () => {
    await using server = await startTestServer({
      EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000',
      EXECSTREAM_STREAM_END_GRACE_MS: '200',
    });
    const operationId = await executionWithLongHistory(server);
    await stallOnBothSurfaces(server, operationId);
    // While the readers read nothing, the server lets go of both streams, their backlog and
    // their connections: the one left is the metrics request itself.
    await eventually(
      async () =>
        (await metric(server.url, 'execstream_stream_backlog_bytes')) === 0 &&
        (await metric(server.url, 'execstream_streams_active')) === 0 &&
        (await metric(server.url, 'execstream_http_connections_open')) === 1,
      'no backlog, stream or stalled connection left on the server',
    );
  });

  it('is disconnected on shutdown well before the shutdown grace, on both surfaces', async () => {
    const server = await startTestServer({
      EXECSTREAM_STREAM_END_GRACE_MS: '200',
      EXECSTREAM_SHUTDOWN_GRACE_MS: '60000',
    });
    const operationId = await executionWithLongHistory(server);
    await stallOnBothSurfaces(server, operationId);
    // `close` resolves once every connection is gone, which the readers never bring about.
    await within(server.close(), 10_000, 'shutdown done with both readers stalled');
  });

  it('gets no ping after its stream ended, while the reset waits out the grace', async () => {
    // Pings every 100 ms and 1.5 s between the end and the reset: a ping written after the end
    // would be an error no one catches, and take the server down.
    await using server = await startTestServer({
      EXECSTREAM_PING_INTERVAL_MS: '100',
      EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000',
      EXECSTREAM_STREAM_END_GRACE_MS: '1500',
    });
    const operationId = await executionWithLongHistory(server);
    await stallOnBothSurfaces(server, operationId);
    await eventually(
      async () => (await metric(server.url, 'execstream_http_connections_open')) === 1,
      'both stalled connections reset after the grace',
    );
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
