import type { ServerResponse } from 'node:http';
import type { OperationId } from '@execstream/event-schema';
import type { ExecutionStreams } from '@execstream/stream-service';
import { type Delivery, openDelivery } from './delivery.ts';
import type { DeliveryObserver, Surface } from './observer.ts';
import type { DeliverySlots } from './slots.ts';

/**
 * Options, limits and defaults shared by every stream surface (the raw SSE route, the tRPC
 * subscription, AG-UI) and the server's configuration, defined once so they cannot drift apart.
 */

/** CONTRACT §5: a `: ping` at least every 15 s while idle, so proxies keep the connection. */
export const MAX_PING_INTERVAL_MS = 15_000;

/** The defaults of the stream options of every surface and of the server's configuration. */
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

/** The options of every stream surface (the raw route, tRPC, AG-UI), with their defaults. */
export interface StreamOptions {
  streams: ExecutionStreams;
  /**
   * How often a ping is sent; at most 15 s (CONTRACT §5).
   * @default 10_000
   */
  pingIntervalMs?: number;
  /**
   * Unsent bytes (UTF-8, as on the wire) a reader may fall behind by before it is disconnected.
   * @default 1_048_576 (1 MiB)
   */
  maxBacklogBytes?: number;
  /**
   * How long one response may last; then it ends and the client resumes from its cursor, which
   * spreads long-lived connections over instances and bounds any one connection's cost.
   * @default 900_000 (15 minutes)
   */
  maxLifetimeMs?: number;
  /**
   * How long a response ended by its lifetime or by shutdown may take to reach its reader; a
   * reader that has not taken it by then (it stopped reading) is disconnected with a reset.
   * @default 2_000
   */
  endGraceMs?: number;
  observer?: DeliveryObserver;
  /**
   * Open streams per principal (CONTRACT §8), one count for every surface.
   * @default no limit
   */
  slots?: DeliverySlots;
  /** Aborted on shutdown: open streams end cleanly so that clients resume elsewhere. */
  shutdownSignal?: AbortSignal;
  /** Receives errors that are not the client's fault. */
  onUnexpectedError?: (error: unknown) => void;
}

/** The options of a surface that speaks plain SSE, with `retry:` (the raw route, AG-UI). */
export interface EventStreamOptions extends StreamOptions {
  /**
   * The reconnection delay sent in the `retry:` line of the first frame.
   * @default 1000
   */
  retryMs?: number;
}

export type ResolvedStreamOptions = StreamOptions &
  Required<
    Pick<StreamOptions, 'pingIntervalMs' | 'maxBacklogBytes' | 'maxLifetimeMs' | 'endGraceMs'>
  >;

/** The options with their defaults filled in. @throws RangeError for a ping interval over 15 s */
export function resolveStreamOptions(options: StreamOptions): ResolvedStreamOptions {
  return {
    ...options,
    pingIntervalMs: checkPingInterval(options.pingIntervalMs ?? STREAM_DEFAULTS.pingIntervalMs),
    maxBacklogBytes: options.maxBacklogBytes ?? STREAM_DEFAULTS.maxBacklogBytes,
    maxLifetimeMs: options.maxLifetimeMs ?? STREAM_DEFAULTS.maxLifetimeMs,
    endGraceMs: options.endGraceMs ?? STREAM_DEFAULTS.endGraceMs,
  };
}

/**
 * Opens one client's delivery for the response `res`: it ends when the client leaves, and a
 * reader past the backlog bound has its connection dropped (CONTRACT §5).
 *
 * The response's own `close` ends the delivery, with no AbortController per stream: an open
 * stream holds the delivery's `close` on its response and nothing else. A client gone while the
 * delivery opens has it closed as soon as it is open (its reads were under way anyway).
 * @throws as `openDelivery`
 */
export async function openResponseDelivery(
  res: ServerResponse,
  options: ResolvedStreamOptions,
  target: { ownerId: string; operationId: OperationId; cursor: string | null; surface: Surface },
): Promise<Delivery> {
  let gone = false;
  const leave = () => {
    gone = true;
  };
  res.once('close', leave);
  let delivery: Delivery;
  try {
    // Every property named, in one order: one shape for every stream's options.
    delivery = await openDelivery({
      streams: options.streams,
      ownerId: target.ownerId,
      operationId: target.operationId,
      cursor: target.cursor,
      surface: target.surface,
      maxBacklogBytes: options.maxBacklogBytes,
      onOverflow: () => res.destroy(),
      observer: options.observer,
      slots: options.slots,
    });
  } finally {
    res.off('close', leave);
  }
  if (gone) delivery.close();
  // `on`, not `once`: a response closes once, and `once` wraps each listener in a state object
  // and a bound function held for the stream's life.
  else res.on('close', delivery.close);
  return delivery;
}
