/**
 * Limits and defaults shared by both stream surfaces (the raw SSE route and the tRPC
 * subscription) and the server's configuration, defined once so they cannot drift apart.
 */

/** CONTRACT §5: a `: ping` at least every 15 s while idle, so proxies keep the connection. */
export const MAX_PING_INTERVAL_MS = 15_000;

/** The defaults of the stream options of both surfaces and of the server's configuration. */
export const STREAM_DEFAULTS = {
  /** The `retry:` of the raw route's first frame. */
  retryMs: 1_000,
  pingIntervalMs: 10_000,
  /** 1 MiB of serialised events a reader may fall behind by. */
  maxBacklogBytes: 1_048_576,
  /** 15 minutes. */
  maxLifetimeMs: 900_000,
  /** How long an ended stream response may take to reach its reader before it is reset. */
  endGraceMs: 2_000,
} as const;

/** @throws RangeError when `pingIntervalMs` breaks CONTRACT §5 */
export function checkPingInterval(pingIntervalMs: number): number {
  if (!(pingIntervalMs > 0 && pingIntervalMs <= MAX_PING_INTERVAL_MS)) {
    throw new RangeError(`pingIntervalMs must be from 1 to ${MAX_PING_INTERVAL_MS}`);
  }
  return pingIntervalMs;
}
