import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  apiKeyResolver,
  createAuthenticator,
  loadBootstrapKeys,
  MemoryApiKeyStore,
} from '@execstream/auth';
import type { Envelope } from '@execstream/event-schema';
import {
  createMemoryExecutionStreams,
  ExecutionProducer,
  type ExecutionStreams,
} from '@execstream/stream-service';
import { afterEach, describe, expect, it } from 'vitest';
import { createAppRouter, createStreamRoute } from '../src/index.ts';
import { subscriptionClient } from './client.ts';

const OWNER = 'owner';
const KEY = 'test-key-stream-route-0001';

/**
 * `v2.executions.stream` as production serves it: `createStreamRoute` on an HTTP server (the
 * server mounts it ahead of tRPC's adapter), read by the real `@trpc/client`.
 */
async function serve(streams: ExecutionStreams, shutdownSignal?: AbortSignal) {
  const router = createAppRouter({ streams });
  const route = createStreamRoute({ streams, router, shutdownSignal });
  const keys = new MemoryApiKeyStore();
  await loadBootstrapKeys(keys, [{ key: KEY, ownerId: OWNER }]);
  const authenticate = createAuthenticator([apiKeyResolver([keys])]);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.slice(1);
    if (!route.handles(req.method, path, url)) {
      res.writeHead(404).end();
      return;
    }
    void route.serve(req, res, (connectionParams) =>
      authenticate({ headers: req.headers, connectionParams }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return subscriptionClient(port, KEY);
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Follows the stream to its end (tRPC's `return`), or to its first error. */
function follow(
  client: Awaited<ReturnType<typeof serve>>,
  input: { operationId: string; lastEventId?: string },
) {
  const events: Envelope[] = [];
  /** The errors the link reconnected after (a retryable error does not end the subscription). */
  const retried: unknown[] = [];
  let opened!: () => void;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  let unsubscribe = () => {};
  const done = new Promise<Envelope[]>((resolve, reject) => {
    ({ unsubscribe } = client.v2.executions.stream.subscribe(input, {
      onStarted: () => opened(),
      onConnectionStateChange: (state) => {
        if (state.state === 'connecting' && state.error) retried.push(state.error);
      },
      onData: (tracked) => {
        events.push(tracked.data as Envelope);
      },
      onComplete: () => resolve(events),
      onError: reject,
    }));
  });
  return { events, retried, open, done, unsubscribe: () => unsubscribe() };
}

describe('v2.executions.stream served by createStreamRoute', () => {
  it('hydrates, follows live events to the end, and resumes from a cursor with what follows it', async () => {
    const streams = createMemoryExecutionStreams();
    const client = await serve(streams);
    const { record } = await streams.create({ ownerId: OWNER, type: 'swap' });
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    await producer.start();

    const fresh = follow(client, { operationId: record.operationId });
    await fresh.open;
    for (let index = 0; index < 5; index++) await producer.timeline(`step ${index}`);
    await producer.complete({ ok: true });
    const all = await fresh.done;
    expect(all[0]?.kind).toBe('execution.snapshot');
    expect(all.map((event) => event.sequence)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);

    const stored = (await streams.readHistory(record.operationId)).events;
    const resumed = await follow(client, {
      operationId: record.operationId,
      lastEventId: stored[3]?.cursor as string,
    }).done;
    expect(resumed).toEqual(stored.slice(4));
    await streams.close();
  });

  it('ends every open stream on shutdown with a retryable error, through one listener', async () => {
    const streams = createMemoryExecutionStreams();
    const shutdown = new AbortController();
    const client = await serve(streams, shutdown.signal);
    const { record } = await streams.create({ ownerId: OWNER, type: 'swap' });
    const readers = Array.from({ length: 5 }, () =>
      follow(client, { operationId: record.operationId }),
    );
    await Promise.all(readers.map((reader) => reader.open));
    await until(() => readers.every((reader) => reader.events.length === 1), 'snapshots');
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
    shutdown.abort();
    // Each is told the server is going and reconnects, with its cursor, as it would elsewhere.
    await until(() => readers.every((reader) => reader.retried.length > 0), 'every reader told');
    for (const reader of readers) {
      expect(reader.retried[0]).toMatchObject({ data: { code: 'SERVICE_UNAVAILABLE' } });
      reader.unsubscribe();
    }
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    await streams.close();
  });
});
