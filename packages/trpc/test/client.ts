import { createTRPCClient, httpSubscriptionLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { AppRouter } from '../src/index.ts';

/** The real tRPC client, subscribing over SSE to the server on `port` with an API key. */
export function subscriptionClient(port: number, apiKey: string) {
  return createTRPCClient<AppRouter>({
    links: [
      httpSubscriptionLink({
        url: `http://127.0.0.1:${port}`,
        EventSource,
        eventSourceOptions: {
          fetch: (input, init) =>
            fetch(input, { ...init, headers: { ...init?.headers, 'X-API-KEY': apiKey } }),
        },
      }),
    ],
  });
}
