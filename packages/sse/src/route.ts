import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@execstream/auth';
import {
  frameCache,
  openResponseDelivery,
  resolveStreamOptions,
  runStreamSession,
  STREAM_DEFAULTS,
  type StreamFraming,
  type StreamOptions,
  sharedFraming,
} from '@execstream/delivery';
import {
  encodeSseFrame,
  encodeSseRetry,
  isOperationId,
  SSE_PING_FRAME,
} from '@execstream/event-schema';
import { StoreUnavailableError } from '@execstream/stream-service';
import {
  type HttpError,
  httpErrorOf,
  INTERNAL_ERROR,
  OPERATION_ID_INVALID,
  sendHttpError,
} from './http-error.ts';

export interface ExecutionStreamRouteOptions extends StreamOptions {
  /**
   * The reconnection delay sent in the `retry:` line of the first frame.
   * @default 1000
   */
  retryMs?: number;
}

const PATH = /^\/v1\/executions\/([^/]+)\/stream$/;

/** The response headers of every event stream (CONTRACT §5). */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
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
 * Answers a stream request refused before its stream opened, on every SSE surface: an outage
 * with `retry:` alone (CONTRACT §5: the server's trouble, not the stream's end; a 503 would make
 * an EventSource give up for good), a known error with its CONTRACT §7 answer, anything else as
 * a bare 500, reported to `onUnexpectedError`.
 */
export function refuseStream(
  res: ServerResponse,
  error: unknown,
  retryFrame: string,
  onUnexpectedError?: (error: unknown) => void,
): void {
  if (error instanceof StoreUnavailableError) {
    endForRetry(res, retryFrame);
    return;
  }
  const known = httpErrorOf(error);
  if (!known) onUnexpectedError?.(error);
  sendHttpError(res, known ?? INTERNAL_ERROR);
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
  routeOptions: ExecutionStreamRouteOptions,
): ExecutionStreamRoute {
  const options = resolveStreamOptions(routeOptions);
  const retryFrame = encodeSseRetry(routeOptions.retryMs ?? STREAM_DEFAULTS.retryMs);
  const frame = frameCache((envelope, data) =>
    encodeSseFrame({ id: envelope.cursor, event: envelope.kind, data }),
  );
  const framing: StreamFraming = {
    headers: SSE_HEADERS,
    // The first frame carries `retry:` alone, so the client has it even before the first event.
    preamble: retryFrame,
    ping: SSE_PING_FRAME,
    frame,
    spool: sharedFraming(frame),
  };

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
  ): Promise<void> {
    const target = parseStreamTarget(req, PATH);
    if ('status' in target) return sendHttpError(res, target);
    let delivery: Awaited<ReturnType<typeof openResponseDelivery>>;
    try {
      delivery = await openResponseDelivery(res, options, {
        ownerId: principal.ownerId,
        operationId: target.operationId,
        cursor: target.cursor,
        surface: 'sse',
      });
    } catch (error) {
      return refuseStream(res, error, retryFrame, options.onUnexpectedError);
    }
    if (delivery.nothingToSend) {
      // 204 is the one answer that makes EventSource stop reconnecting (CONTRACT §4).
      res.writeHead(204);
      res.end();
      return;
    }
    await runStreamSession(res, delivery, framing, options);
  }

  return {
    matches: (pathname) => PATH.test(pathname),
    handle,
    retryLater: (res) => endForRetry(res, retryFrame),
  };
}

/** A stream request's execution and cursor, or why it cannot be served. */
export type StreamTarget = { operationId: string; cursor: string | null } | HttpError;

/**
 * The operation id (the first group of `pattern` in the path) and cursor of a stream request:
 * `Last-Event-ID` wins over `?lastEventId=`; an empty one is no cursor. Shared with the AG-UI
 * route, whose path differs.
 */
export function parseStreamTarget(req: IncomingMessage, pattern: RegExp): StreamTarget {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const raw = pattern.exec(url.pathname)?.[1] ?? '';
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
