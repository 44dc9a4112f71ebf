import type { IncomingMessage, ServerResponse } from 'node:http';
import { isOperationId } from '@execstream/event-schema';
import { StoreUnavailableError } from '@execstream/stream-service';
import {
  type HttpError,
  httpErrorOf,
  INTERNAL_ERROR,
  OPERATION_ID_INVALID,
  sendHttpError,
} from './http-error.ts';

/**
 * The HTTP side every stream surface shares (the raw route, tRPC's, AG-UI's): the event-stream
 * headers, where a request resumes from, and the answers to a stream refused before it opened.
 */

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
 * A route's path in Fastify's form (`/v1/executions/:operationId/stream`) as a pattern whose one
 * group is the operation id: the path is stated once, and matched the same way everywhere.
 */
export function operationPathPattern(path: string): RegExp {
  const [before, after, ...more] = path.split(':operationId');
  if (before === undefined || after === undefined || more.length > 0) {
    throw new RangeError(`${path} must hold :operationId once`);
  }
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${literal(before)}([^/]+)${literal(after)}$`);
}

/** A stream request's execution and cursor, or why it cannot be served. */
export type StreamTarget = { operationId: string; cursor: string | null } | HttpError;

/**
 * The operation id (the first group of `pattern` in the path) and cursor of a stream request:
 * `Last-Event-ID` wins over `?lastEventId=`; an empty one is no cursor. Every stream route's,
 * whatever its path.
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
  return { operationId, cursor: lastEventIdOf(req, url) };
}

/**
 * The cursor a stream request resumes from, as an EventSource sends it: the `Last-Event-ID`
 * header, else `?lastEventId=` (`?Last-Event-Id=` too, as tRPC's link spells it); an empty one is
 * no cursor. The one reading of it for every surface.
 */
export function lastEventIdOf(req: IncomingMessage, url: URL): string | null {
  const header = req.headers['last-event-id'];
  const cursor =
    (typeof header === 'string' && header !== '' ? header : null) ??
    url.searchParams.get('lastEventId') ??
    url.searchParams.get('Last-Event-Id');
  return cursor === '' ? null : cursor;
}
