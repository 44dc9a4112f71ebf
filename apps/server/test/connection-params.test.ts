import type { Envelope } from '@execstream/event-schema';
import { ExecutionProducer } from '@execstream/stream-service';
import type { AppRouter } from '@execstream/trpc';
import { createTRPCClient, httpSubscriptionLink, TRPCClientError } from '@trpc/client';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { OWNER_A, OWNER_B, startTestServer } from './support/server.ts';
import { collectSubscription, type TrpcClient } from './support/trpc.ts';

/**
 * The client a browser builds: its EventSource cannot set headers, so the key travels as
 * `connectionParams`. `header` adds an X-API-KEY as a non-browser client could.
 */
function browserLikeClient(
  baseUrl: string,
  connectionParams: Record<string, string>,
  header?: string,
): TrpcClient {
  return createTRPCClient<AppRouter>({
    links: [
      httpSubscriptionLink({
        url: `${baseUrl}/v1/trpc`,
        EventSource,
        connectionParams,
        eventSourceOptions: header
          ? {
              fetch: (input, init) =>
                fetch(input, { ...init, headers: { ...init?.headers, 'X-API-KEY': header } }),
            }
          : undefined,
      }),
    ],
  });
}

describe('the tRPC subscription authenticated by connectionParams', () => {
  it('follows an execution with connectionParams.apiKey and no header', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();
    const client = browserLikeClient(server.url, { apiKey: OWNER_A.key });
    let live!: () => void;
    const following = collectSubscription(client, { operationId: record.operationId }, () =>
      live(),
    );
    await new Promise<void>((resolve) => {
      live = resolve;
    });
    await producer.complete({ ok: true });
    const { events, error } = await following;
    expect(error).toBeNull();
    expect(events.map((event: Envelope) => event.kind)).toEqual([
      'execution.snapshot',
      'execution.result',
      'execution.state_changed',
    ]);
  });

  it('is scoped to the owner of the key, and refuses a wrong key; the header wins', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const codeOf = async (client: TrpcClient) => {
      const { events, error } = await collectSubscription(client, { operationId });
      expect(events).toEqual([]);
      expect(error).toBeInstanceOf(TRPCClientError);
      return (error as TRPCClientError<AppRouter>).data?.code;
    };
    expect(await codeOf(browserLikeClient(server.url, { apiKey: OWNER_B.key }))).toBe('NOT_FOUND');
    expect(await codeOf(browserLikeClient(server.url, { apiKey: 'not-a-key-of-anyone-0' }))).toBe(
      'UNAUTHORIZED',
    );
    expect(
      await codeOf(browserLikeClient(server.url, { apiKey: OWNER_A.key }, 'wrong-key-0000000000')),
    ).toBe('UNAUTHORIZED');
  });
});
