import type { ServerResponse } from 'node:http';
import {
  type Delivery,
  type DeliveryObserver,
  type DeliverySlots,
  onShutdown,
  openDelivery,
  type Surface,
} from '@execstream/delivery';
import type { OperationId } from '@execstream/event-schema';
import { SSE_PING_FRAME } from '@execstream/event-schema';
import { type ExecutionStreams, StoreUnavailableError } from '@execstream/stream-service';
import { resetUnlessFinished } from './finish.ts';
import { httpErrorOf, INTERNAL_ERROR, sendHttpError } from './http-error.ts';

/** The response headers of every event stream (CONTRACT §5). */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
} as const;

/**
 * Answers a stream request the server cannot serve right now (the store is unreachable, the
 * server is shutting down) with a 200 that carries only `retry:` and ends: an EventSource then
 * reconnects with its cursor after that delay, where any other status but 204 would end it.
 */
export function endForRetry(res: ServerResponse, retryFrame: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(200, SSE_HEADERS);
  res.end(retryFrame);
}

/** How every SSE surface (the raw route, AG-UI) holds a stream response open, resolved once. */
export interface EventStreamSettings {
  streams: ExecutionStreams;
  /** The `retry:` frame sent first, and alone when the store is unreachable. */
  retryFrame: string;
  pingIntervalMs: number;
  maxBacklogBytes: number;
  maxLifetimeMs: number;
  endGraceMs: number;
  observer?: DeliveryObserver;
  slots?: DeliverySlots;
  shutdownSignal?: AbortSignal;
  onUnexpectedError?: (error: unknown) => void;
}

/** Whose stream of which execution, from which cursor, on which surface. */
export interface EventStreamRequest {
  ownerId: string;
  operationId: OperationId;
  cursor: string | null;
  surface: Surface;
}

/**
 * Serves one stream request over SSE, the same way on every SSE surface: opens the delivery (the
 * owner check, the open-streams slot, the cursor), answers its refusals (CONTRACT §7; an outage
 * with `retry:`, never a 503), 204 when there is nothing to send, then writes `frames(delivery)`
 * as the socket takes them: `retry:` first, pings while idle, a clean end at the lifetime or
 * shutdown (and a reset if that end cannot reach a reader who stopped reading). Each string
 * `frames` yields is written at once, so a surface whose event becomes several frames writes them
 * together and a clean end never falls between them. Never throws: every failure is answered on
 * `res`.
 */
export async function serveEventStream(
  res: ServerResponse,
  request: EventStreamRequest,
  settings: EventStreamSettings,
  frames: (delivery: Delivery) => AsyncIterable<string>,
): Promise<void> {
  const abort = new AbortController();
  const release = () => abort.abort();
  res.once('close', release);
  let delivery: Delivery;
  try {
    delivery = await openDelivery({
      streams: settings.streams,
      ownerId: request.ownerId,
      operationId: request.operationId,
      cursor: request.cursor,
      signal: abort.signal,
      surface: request.surface,
      maxBacklogBytes: settings.maxBacklogBytes,
      onOverflow: () => res.destroy(),
      observer: settings.observer,
      slots: settings.slots,
    });
  } catch (error) {
    abort.abort();
    res.off('close', release);
    // An outage is the server's trouble, not the stream's end (CONTRACT §5): a 503 would make
    // an EventSource give up for good, so the client is told to come back with its cursor.
    if (error instanceof StoreUnavailableError) return endForRetry(res, settings.retryFrame);
    const known = httpErrorOf(error);
    if (!known) settings.onUnexpectedError?.(error);
    return sendHttpError(res, known ?? INTERNAL_ERROR);
  }
  if (delivery.nothingToSend) {
    // 204 is the one answer that makes EventSource stop reconnecting (CONTRACT §4).
    res.writeHead(204);
    res.end();
    return;
  }

  res.writeHead(200, SSE_HEADERS);
  // The first frame carries `retry:` alone, so the client has it even before the first event.
  res.write(settings.retryFrame);
  const ping = setInterval(() => res.write(SSE_PING_FRAME), settings.pingIntervalMs);
  // Lifetime and shutdown end the response cleanly, and the client resumes from its cursor.
  // The loop below may be waiting for a drain that a reader who stopped reading never gives,
  // so the end does not wait for it, and the connection is reset if the end does not get through.
  let lifetime: NodeJS.Timeout | undefined;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearInterval(ping);
    clearTimeout(lifetime);
    delivery.close();
    res.end();
    resetUnlessFinished(res, settings.endGraceMs);
  };
  lifetime = setTimeout(finish, settings.maxLifetimeMs);
  using _shutdown = onShutdown(settings.shutdownSignal, finish);
  try {
    for await (const frame of frames(delivery)) {
      if (finished) break;
      if (!res.write(frame)) await drained(res);
    }
    res.end();
  } catch (error) {
    // Headers are out: all that is left is to end, and the client resumes from its cursor.
    if (!(error instanceof StoreUnavailableError)) settings.onUnexpectedError?.(error);
    res.destroy();
  } finally {
    finished = true;
    clearInterval(ping);
    clearTimeout(lifetime);
    res.off('close', release);
    delivery.close();
  }
}

/** Resolves once the socket can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
