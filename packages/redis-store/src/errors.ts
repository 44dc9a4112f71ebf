import { ExecutionStreamError, StoreUnavailableError } from '@execstream/stream-service';
import { ReplyError } from 'ioredis';

// Replies that mean "not now" rather than "wrong": the server is loading, failing over, out of
// memory, or the cluster is reconfiguring. Callers may retry them like a lost connection.
const UNAVAILABLE_REPLY =
  /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|OOM|NOREPLICAS)\b/;

// What ioredis (and the sockets under it) throw when Redis cannot be reached right now: closed,
// refused or reset connections, command timeouts, no offline queue while reconnecting, a cluster
// without a ready node. Matched by allow-list: anything else is a bug, not an outage.
const UNAVAILABLE_MESSAGE =
  /^(Connection is closed|Stream isn't writeable|Cluster isn't ready|Cluster is disconnect|Node is disconnected|Command timed out|None of startup nodes is available|Failed to refresh slots cache|Too many Cluster redirections|Ready check failed|connect ETIMEDOUT|Reached the max retries per request limit)/;
const UNAVAILABLE_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Maps what ioredis throws to the service's typed errors: failing to reach Redis (see above) and
 * the "not now" replies become `StoreUnavailableError`, which callers retry. Everything else (an
 * error reply from a script, a `TypeError` from our own code) is rethrown as it is: were it
 * called an outage, subscribers and producers would retry a bug forever.
 */
export function toStoreError(error: unknown): unknown {
  if (error instanceof ExecutionStreamError || !(error instanceof Error)) return error;
  const unavailable =
    error instanceof ReplyError
      ? UNAVAILABLE_REPLY.test(error.message)
      : UNAVAILABLE_ERROR_NAMES.has(error.name) ||
        UNAVAILABLE_SOCKET_CODES.has((error as NodeJS.ErrnoException).code ?? '') ||
        UNAVAILABLE_MESSAGE.test(error.message);
  if (!unavailable) return error;
  return new StoreUnavailableError(`Redis is unavailable: ${error.message}`, { cause: error });
}

/** Runs a Redis call, mapping its failure with `toStoreError`. */
export async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toStoreError(error);
  }
}
