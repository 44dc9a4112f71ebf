import type { Envelope } from '@execstream/event-schema';
import type { AppRouter } from '@execstream/trpc';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';

/** The real tRPC client the web app uses: httpLink for calls, httpSubscriptionLink for streams. */
export function trpcClient(baseUrl: string, apiKey: string | null) {
  const headers: Record<string, string> = apiKey ? { 'X-API-KEY': apiKey } : {};
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${baseUrl}/v1/trpc`,
          EventSource,
          eventSourceOptions: {
            fetch: (input, init) =>
              fetch(input, { ...init, headers: { ...init?.headers, ...headers } }),
          },
        }),
        false: httpLink({ url: `${baseUrl}/v1/trpc`, headers }),
      }),
    ],
  });
}

export type TrpcClient = ReturnType<typeof trpcClient>;

/** Follows a subscription until it completes or errors; resolves with what it received. */
export function collectSubscription(
  client: TrpcClient,
  input: { operationId: string; lastEventId?: string | null },
  onData?: (envelope: Envelope) => void,
): Promise<{ events: Envelope[]; error: unknown }> {
  return new Promise((resolve) => {
    const events: Envelope[] = [];
    const subscription = client.v2.executions.stream.subscribe(input, {
      onData(tracked) {
        events.push(tracked.data);
        onData?.(tracked.data);
      },
      onComplete() {
        resolve({ events, error: null });
      },
      onError(error) {
        subscription.unsubscribe();
        resolve({ events, error });
      },
    });
  });
}

/** The raw URL of the tRPC subscription, to read its bytes without the client. */
export function trpcStreamUrl(
  baseUrl: string,
  input: { operationId: string; lastEventId?: string | null },
): string {
  return `${baseUrl}/v1/trpc/v2.executions.stream?input=${encodeURIComponent(JSON.stringify(input))}`;
}
