import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@execstream/auth';
import type { Delivery, DeliveryObserver, DeliverySlots } from '@execstream/delivery';
import { encodeSseFrame, encodeSseRetry, isOperationId } from '@execstream/event-schema';
import type { ExecutionStreams } from '@execstream/stream-service';
import { type HttpError, OPERATION_ID_INVALID, sendHttpError } from './http-error.ts';
import { type EventStreamSettings, endForRetry, serveEventStream } from './serve.ts';
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
  const settings = eventStreamSettings(options);

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
  ): Promise<void> {
    const target = parseStreamTarget(req, PATH);
    if ('status' in target) return sendHttpError(res, target);
    await serveEventStream(
      res,
      { ownerId: principal.ownerId, ...target, surface: 'sse' },
      settings,
      rawFrames,
    );
  }

  return {
    matches: (pathname) => PATH.test(pathname),
    handle,
    retryLater: (res) => endForRetry(res, settings.retryFrame),
  };
}

/** The options of an SSE stream route, checked and with their defaults. */
export function eventStreamSettings(options: ExecutionStreamRouteOptions): EventStreamSettings {
  return {
    streams: options.streams,
    retryFrame: encodeSseRetry(options.retryMs ?? STREAM_DEFAULTS.retryMs),
    pingIntervalMs: checkPingInterval(options.pingIntervalMs ?? STREAM_DEFAULTS.pingIntervalMs),
    maxBacklogBytes: options.maxBacklogBytes ?? STREAM_DEFAULTS.maxBacklogBytes,
    maxLifetimeMs: options.maxLifetimeMs ?? STREAM_DEFAULTS.maxLifetimeMs,
    endGraceMs: options.endGraceMs ?? STREAM_DEFAULTS.endGraceMs,
    observer: options.observer,
    slots: options.slots,
    shutdownSignal: options.shutdownSignal,
    onUnexpectedError: options.onUnexpectedError,
  };
}

/** A stream request's execution and cursor, or why it cannot be served. */
export type StreamTarget = { operationId: string; cursor: string | null } | HttpError;

/**
 * The operation id (the first group of `pattern` in the path) and cursor of a stream request:
 * `Last-Event-ID` wins over `?lastEventId=`; an empty one is no cursor.
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

/** Each envelope as its own frame: `id:` its cursor, `event:` its kind, `data:` its JSON. */
async function* rawFrames(delivery: Delivery): AsyncIterable<string> {
  for await (const { envelope, data } of delivery) {
    yield encodeSseFrame({ id: envelope.cursor, event: envelope.kind, data });
  }
}
