import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@execstream/auth';
import {
  type DeliveryObserver,
  type DeliverySlots,
  onShutdown,
  openDelivery,
} from '@execstream/delivery';
import {
  encodeSseFrame,
  encodeSseRetry,
  isOperationId,
  SSE_PING_FRAME,
} from '@execstream/event-schema';
import { type ExecutionStreams, StoreUnavailableError } from '@execstream/stream-service';
import { resetUnlessFinished } from './finish.ts';
import {
  type HttpError,
  httpErrorOf,
  INTERNAL_ERROR,
  OPERATION_ID_INVALID,
  sendHttpError,
} from './http-error.ts';
import { checkPingInterval, STREAM_DEFAULTS } from './stream-options.ts';

export interface ExecutionStreamRouteOptions {
  streams: ExecutionStreams;
  /**
   * The reconnection delay sent in the `retry:` line of the first frame.
   * @default 1000
   */
  retryMs?: number;
  /**
   * How often a `: ping` comment is sent; at most 15 s (CONTRACT §5).
   * @default 10_000
   */
  pingIntervalMs?: number;
  /**
   * Unsent bytes a reader may fall behind by before it is disconnected.
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
   * Open streams per principal (CONTRACT §8), shared with the other surfaces: past it a request
   * is answered 429 `TOO_MANY_STREAMS` with `Retry-After`.
   * @default no limit
   */
  slots?: DeliverySlots;
  /** Aborted on shutdown: open streams end cleanly so that clients resume elsewhere. */
  shutdownSignal?: AbortSignal;
  /** Receives errors that are not the client's fault (answered as a bare 500). */
  onUnexpectedError?: (error: unknown) => void;
}

const PATH = /^\/v1\/executions\/([^/]+)\/stream$/;

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

/**
 * The raw SSE route, `GET /v1/executions/:operationId/stream` (CONTRACT §5), for a caller the
 * server has already authenticated (credentials come first, and the same way, on every surface).
 */
export interface ExecutionStreamRoute {
  matches(pathname: string): boolean;
  /** Serves the stream; never throws: every failure is answered on `res`. */
  handle(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void>;
  /** Answers a stream request the server cannot serve now with a bare `retry:` (an outage). */
  retryLater(res: ServerResponse): void;
}

export function createExecutionStreamRoute(
  options: ExecutionStreamRouteOptions,
): ExecutionStreamRoute {
  const retryFrame = encodeSseRetry(options.retryMs ?? STREAM_DEFAULTS.retryMs);
  const pingIntervalMs = checkPingInterval(
    options.pingIntervalMs ?? STREAM_DEFAULTS.pingIntervalMs,
  );
  const maxBacklogBytes = options.maxBacklogBytes ?? STREAM_DEFAULTS.maxBacklogBytes;
  const maxLifetimeMs = options.maxLifetimeMs ?? STREAM_DEFAULTS.maxLifetimeMs;
  const endGraceMs = options.endGraceMs ?? STREAM_DEFAULTS.endGraceMs;

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
  ): Promise<void> {
    const target = parseTarget(req);
    if ('status' in target) return sendHttpError(res, target);

    const abort = new AbortController();
    const release = () => abort.abort();
    res.once('close', release);
    let delivery: Awaited<ReturnType<typeof openDelivery>>;
    try {
      delivery = await openDelivery({
        streams: options.streams,
        ownerId: principal.ownerId,
        operationId: target.operationId,
        cursor: target.cursor,
        signal: abort.signal,
        surface: 'sse',
        maxBacklogBytes,
        onOverflow: () => res.destroy(),
        observer: options.observer,
        slots: options.slots,
      });
    } catch (error) {
      abort.abort();
      res.off('close', release);
      // An outage is the server's trouble, not the stream's end (CONTRACT §5): a 503 would make
      // an EventSource give up for good, so the client is told to come back with its cursor.
      if (error instanceof StoreUnavailableError) return endForRetry(res, retryFrame);
      return fail(res, error);
    }
    if (delivery.nothingToSend) {
      // 204 is the one answer that makes EventSource stop reconnecting (CONTRACT §4).
      res.writeHead(204);
      res.end();
      return;
    }

    res.writeHead(200, SSE_HEADERS);
    // The first frame carries `retry:` alone, so the client has it even before the first event.
    res.write(retryFrame);
    const ping = setInterval(() => res.write(SSE_PING_FRAME), pingIntervalMs);
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
      resetUnlessFinished(res, endGraceMs);
    };
    lifetime = setTimeout(finish, maxLifetimeMs);
    using _shutdown = onShutdown(options.shutdownSignal, finish);
    try {
      for await (const { envelope, data } of delivery) {
        const frame = encodeSseFrame({ id: envelope.cursor, event: envelope.kind, data });
        if (!res.write(frame)) await drained(res);
      }
      res.end();
    } catch (error) {
      // Headers are out: all that is left is to end, and the client resumes from its cursor.
      if (!(error instanceof StoreUnavailableError)) options.onUnexpectedError?.(error);
      res.destroy();
    } finally {
      finished = true;
      clearInterval(ping);
      clearTimeout(lifetime);
      res.off('close', release);
      delivery.close();
    }
  }

  const fail = (res: ServerResponse, error: unknown) => {
    const known = httpErrorOf(error);
    if (!known) options.onUnexpectedError?.(error);
    sendHttpError(res, known ?? INTERNAL_ERROR);
  };

  return {
    matches: (pathname) => PATH.test(pathname),
    handle,
    retryLater: (res) => endForRetry(res, retryFrame),
  };
}

type Target = { operationId: string; cursor: string | null } | HttpError;

/** The operation id and cursor of a request: `Last-Event-ID` wins over `?lastEventId=`. */
function parseTarget(req: IncomingMessage): Target {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const raw = PATH.exec(url.pathname)?.[1] ?? '';
  let operationId: string;
  try {
    operationId = decodeURIComponent(raw);
  } catch {
    operationId = '';
  }
  if (!isOperationId(operationId)) return OPERATION_ID_INVALID;
  const header = req.headers['last-event-id'];
  const cursor =
    (typeof header === 'string' && header !== '' ? header : null) ??
    url.searchParams.get('lastEventId') ??
    null;
  return { operationId, cursor: cursor === '' ? null : cursor };
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
