import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticate, Principal } from '@execstream/auth';
import { toTRPCError } from './errors.ts';

/** What every procedure sees: the caller (or `null`), and the raw response for flow control. */
export interface ExecutionsContext {
  principal: Principal | null;
  /** Dropped when a subscriber falls too far behind (CONTRACT §5). */
  res: ServerResponse;
}

/**
 * `createContext` for the node adapter; authentication is the auth package's, as on SSE. A key
 * store that cannot be reached answers SERVICE_UNAVAILABLE, never a 500.
 */
export function createContextFactory(authenticate: Authenticate) {
  return async ({
    req,
    res,
  }: {
    req: IncomingMessage;
    res: ServerResponse;
  }): Promise<ExecutionsContext> => {
    try {
      return { principal: await authenticate(req.headers), res };
    } catch (error) {
      throw toTRPCError(error);
    }
  };
}
