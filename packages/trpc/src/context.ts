import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticate, Principal } from '@execstream/auth';
import type { TRPCRequestInfo } from '@trpc/server/http';
import { toTRPCError } from './errors.ts';

/** What every procedure sees: the caller (or `null`), and the raw response for flow control. */
export interface ExecutionsContext {
  principal: Principal | null;
  /** Dropped when a subscriber falls too far behind (CONTRACT §5). */
  res: ServerResponse;
}

/**
 * `createContext` for the node adapter; authentication is the auth package's, as on SSE, from
 * the headers and from the `connectionParams` that `httpSubscriptionLink` sends for clients that
 * cannot set headers (browsers' EventSource). A key store that cannot be reached answers
 * SERVICE_UNAVAILABLE, never a 500.
 */
export function createContextFactory(authenticate: Authenticate) {
  return async ({
    req,
    res,
    info,
  }: {
    req: IncomingMessage;
    res: ServerResponse;
    info: Pick<TRPCRequestInfo, 'connectionParams'>;
  }): Promise<ExecutionsContext> => {
    try {
      const principal = await authenticate({
        headers: req.headers,
        connectionParams: info.connectionParams,
      });
      return { principal, res };
    } catch (error) {
      throw toTRPCError(error);
    }
  };
}
