import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@execstream/auth';
import type { TRPCRequestInfo } from '@trpc/server/http';
import { toTRPCError } from './errors.ts';

/** What every procedure sees: the caller (or `null`), and the raw response for flow control. */
export interface ExecutionsContext {
  principal: Principal | null;
  /** Dropped when a subscriber falls too far behind (CONTRACT §5). */
  res: ServerResponse;
}

/** A request or response of Node's own, or of a framework that wraps it as `raw` (Fastify). */
type Raw<T> = T | { raw: T };

/** The caller of a request, from its headers and tRPC's `connectionParams`; `null` for none. */
export type PrincipalOf<TRequest> = (
  req: TRequest,
  connectionParams: TRPCRequestInfo['connectionParams'],
) => Promise<Principal | null>;

/**
 * `createContext` for tRPC's Node and Fastify adapters. The caller is resolved by the server,
 * the same way as on every other surface, from the headers and from the `connectionParams` that
 * `httpSubscriptionLink` sends for clients that cannot set headers (browsers' EventSource).
 * Errors (a key store that cannot be reached, too many failed checks) reach the client in tRPC's
 * shape, never as a 500.
 */
export function createContextFactory<TRequest extends Raw<IncomingMessage>>(
  principalOf: PrincipalOf<TRequest>,
) {
  return async ({
    req,
    res,
    info,
  }: {
    req: TRequest;
    res: Raw<ServerResponse>;
    info: Pick<TRPCRequestInfo, 'connectionParams'>;
  }): Promise<ExecutionsContext> => {
    try {
      const principal = await principalOf(req, info.connectionParams);
      return { principal, res: 'raw' in res ? res.raw : res };
    } catch (error) {
      throw toTRPCError(error);
    }
  };
}
