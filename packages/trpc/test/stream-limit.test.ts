import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  apiKeyResolver,
  createAuthenticator,
  loadBootstrapKeys,
  MemoryApiKeyStore,
} from '@execstream/auth';
import { MemoryStreamSlots } from '@execstream/delivery';
import { createExecutionStreamRoute } from '@execstream/sse';
import { createMemoryExecutionStreams } from '@execstream/stream-service';
import { createTRPCClient, httpSubscriptionLink, TRPCClientError } from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { type AppRouter, createAppRouter, createContextFactory } from '../src/index.ts';

const KEY = 'test-key-stream-limit-01';
const OWNER = 'owner';

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Both stream surfaces on one server, sharing one count of open streams, as the server does. */
async function serve() {
  const streams = createMemoryExecutionStreams();
  const slots = new MemoryStreamSlots();
  const limit = { store: slots, limit: 2, retryAfterSeconds: 7 };
  const keys = new MemoryApiKeyStore();
  await loadBootstrapKeys(keys, [{ key: KEY, ownerId: OWNER }]);
  const authenticate = createAuthenticator([apiKeyResolver([keys])]);
  const trpc = createHTTPHandler({
    router: createAppRouter({ streams, slots: limit }),
    createContext: createContextFactory((req, connectionParams) =>
      authenticate({ headers: req.headers, connectionParams }),
    ),
  });
  const sse = createExecutionStreamRoute({ streams, slots: limit });
  const server = createServer(async (req, res) => {
    if (sse.matches(new URL(req.url ?? '/', 'http://localhost').pathname)) {
      const principal = await authenticate({ headers: req.headers });
      if (principal) void sse.handle(req, res, principal);
      else res.writeHead(401).end();
    } else {
      trpc(req, res);
    }
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createTRPCClient<AppRouter>({
    links: [
      httpSubscriptionLink({
        url: base,
        EventSource,
        eventSourceOptions: {
          fetch: (input, init) =>
            fetch(input, { ...init, headers: { ...init?.headers, 'X-API-KEY': KEY } }),
        },
      }),
    ],
  });
  return {
    streams,
    slots,
    client,
    openSse: (operationId: string, signal: AbortSignal) =>
      fetch(`${base}/v1/executions/${operationId}/stream`, {
        headers: { 'X-API-KEY': KEY },
        signal,
      }),
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await streams.close();
    },
  };
}

/** A tRPC subscription: resolves once its first event arrived, or with the error it ended on. */
function subscribe(client: Awaited<ReturnType<typeof serve>>['client'], operationId: string) {
  return new Promise<{ unsubscribe(): void } | TRPCClientError<AppRouter>>((resolve) => {
    const subscription = client.v2.executions.stream.subscribe(
      { operationId },
      {
        onData: () => resolve(subscription),
        onError: (error) => resolve(error),
      },
    );
  });
}

describe('open streams per principal, over the raw SSE route and the tRPC subscription', () => {
  it('are counted together, refused past the limit with Retry-After, and freed on disconnect', async () => {
    await using app = await serve();
    const { record } = await app.streams.create({ ownerId: OWNER, type: 'swap' });
    const { operationId } = record;

    const sseClient = new AbortController();
    const sse = await app.openSse(operationId, sseClient.signal);
    expect(sse.status).toBe(200);
    const trpc = await subscribe(app.client, operationId);
    expect(trpc).not.toBeInstanceOf(TRPCClientError);
    expect(app.slots.held(OWNER)).toBe(2);

    const refused = await app.openSse(operationId, AbortSignal.timeout(10_000));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('7');
    expect(await refused.json()).toMatchObject({
      success: false,
      error: { code: 'TOO_MANY_STREAMS' },
    });
    const refusedTrpc = await subscribe(app.client, operationId);
    expect(refusedTrpc).toBeInstanceOf(TRPCClientError);
    expect((refusedTrpc as TRPCClientError<AppRouter>).data).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      httpStatus: 429,
      retryAfterSeconds: 7,
    });
    expect(app.slots.held(OWNER)).toBe(2);

    // The SSE client goes away: its slot is free for a stream on the other surface.
    sseClient.abort();
    await until(() => app.slots.held(OWNER) === 1, 'the SSE stream gave its slot back');
    const reopened = await subscribe(app.client, operationId);
    expect(reopened).not.toBeInstanceOf(TRPCClientError);
    for (const subscription of [trpc, reopened]) {
      if (!(subscription instanceof TRPCClientError)) subscription.unsubscribe();
    }
    await until(() => app.slots.held(OWNER) === 0, 'the tRPC subscriptions gave their slots back');
  });
});
