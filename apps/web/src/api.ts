import type { AppRouter } from '@execstream/trpc';
import { QueryClient } from '@tanstack/react-query';
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
} from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/**
 * The API is on the page's own origin (the server serves the app), so the session cookie goes
 * with every call; the subscription's EventSource asks for it with `withCredentials` too, and
 * resumes from its last tracked cursor whenever it reconnects.
 */
export function createApiClient() {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: '/v1/trpc',
          eventSourceOptions: { withCredentials: true },
        }),
        false: httpBatchLink({ url: '/v1/trpc' }),
      }),
    ],
  });
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A refused call (not found, signed out) is an answer, not a fault to retry.
        retry: (count, error) => !isClientError(error) && count < 2,
        refetchOnWindowFocus: false,
      },
    },
  });
}

/** The tRPC error code of a failed call (`NOT_FOUND`, `UNAUTHORIZED`, ...), if it has one. */
export function errorCode(error: unknown): string | null {
  if (!(error instanceof TRPCClientError)) return null;
  const code = (error.data as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : null;
}

function isClientError(error: unknown): boolean {
  const status = (error as TRPCClientError<AppRouter>).data?.httpStatus;
  return typeof status === 'number' && status >= 400 && status < 500;
}
