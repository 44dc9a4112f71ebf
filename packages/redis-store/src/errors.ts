import { ExecutionStreamError, StoreUnavailableError } from '@execstream/stream-service';
import { ReplyError } from 'ioredis';

// Replies that mean "not now" rather than "wrong": the server is loading, failing over, out of
// memory, or the cluster is reconfiguring. Callers may retry them like a lost connection.
const UNAVAILABLE_REPLY =
  /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|OOM|NOREPLICAS)\b/;

/**
 * Maps what ioredis throws to the service's typed errors: anything about reaching Redis (closed
 * or refused connections, timeouts, a cluster without a ready node, the replies above) becomes
 * `StoreUnavailableError`. Other error replies mean a bug in a script or a command and are
 * rethrown as they are, so they are never mistaken for a transient outage.
 */
export function toStoreError(error: unknown): unknown {
  if (error instanceof ExecutionStreamError) return error;
  if (error instanceof ReplyError && !UNAVAILABLE_REPLY.test((error as Error).message)) {
    return error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`Redis is unavailable: ${reason}`, { cause: error });
}

/** Runs a Redis call, mapping its failure with `toStoreError`. */
export async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toStoreError(error);
  }
}
