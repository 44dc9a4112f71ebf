import type { IncomingMessage, ServerResponse } from 'node:http';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import type { Principal } from '@execstream/auth';
import type { DeliveryObserver, DeliverySlots } from '@execstream/delivery';
import { encodeSseRetry } from '@execstream/event-schema';
import {
  checkPingInterval,
  type EventStreamSettings,
  endForRetry,
  httpErrorOf,
  INTERNAL_ERROR,
  parseStreamTarget,
  STREAM_DEFAULTS,
  sendHttpError,
  serveEventStream,
} from '@execstream/sse';
import {
  CursorInvalidError,
  type ExecutionStreams,
  InvalidInputError,
} from '@execstream/stream-service';
import { agUiFrames } from './frames.ts';

/** The same settings as the raw SSE route's, with the same defaults (docs/server.md). */
export interface AgUiStreamRouteOptions {
  streams: ExecutionStreams;
  /** @default 1000 */
  retryMs?: number;
  /** At most 15 s (CONTRACT §5). @default 10_000 */
  pingIntervalMs?: number;
  /** @default 1_048_576 (1 MiB) */
  maxBacklogBytes?: number;
  /** @default 900_000 (15 minutes) */
  maxLifetimeMs?: number;
  /** @default 2_000 */
  endGraceMs?: number;
  observer?: DeliveryObserver;
  /** Open streams per principal, counted with the other surfaces' (CONTRACT §8). */
  slots?: DeliverySlots;
  /** Aborted on shutdown: open streams end cleanly so that clients resume elsewhere. */
  shutdownSignal?: AbortSignal;
  /** Receives errors that are not the client's fault (answered as a bare 500). */
  onUnexpectedError?: (error: unknown) => void;
}

/** `/v1/ai/executions/:operationId/ag-ui-stream` (CONTRACT §10). */
export const AG_UI_STREAM_PATH = /^\/v1\/ai\/executions\/([^/]+)\/ag-ui-stream$/;

/**
 * The AG-UI stream, `GET` and `POST /v1/ai/executions/:operationId/ag-ui-stream`, for a caller
 * the server has already authenticated. A thin sibling of the raw SSE route: the same delivery,
 * response loop and answers, with AG-UI frames (`agUiFrames`) in place of envelope frames.
 */
export interface AgUiStreamRoute {
  matches(pathname: string): boolean;
  /**
   * Serves the stream; `body` is the parsed JSON body of a POST (`undefined` for a GET), an AG-UI
   * `RunAgentInput`. Never throws: every failure is answered on `res`.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    body: unknown,
  ): Promise<void>;
  /** Answers a stream request the server cannot serve now with a bare `retry:` (an outage). */
  retryLater(res: ServerResponse): void;
}

export function createAgUiStreamRoute(options: AgUiStreamRouteOptions): AgUiStreamRoute {
  const retryFrame = encodeSseRetry(options.retryMs ?? STREAM_DEFAULTS.retryMs);
  const settings: EventStreamSettings = {
    streams: options.streams,
    retryFrame,
    pingIntervalMs: checkPingInterval(options.pingIntervalMs ?? STREAM_DEFAULTS.pingIntervalMs),
    maxBacklogBytes: options.maxBacklogBytes ?? STREAM_DEFAULTS.maxBacklogBytes,
    maxLifetimeMs: options.maxLifetimeMs ?? STREAM_DEFAULTS.maxLifetimeMs,
    endGraceMs: options.endGraceMs ?? STREAM_DEFAULTS.endGraceMs,
    observer: options.observer,
    slots: options.slots,
    shutdownSignal: options.shutdownSignal,
    onUnexpectedError: options.onUnexpectedError,
  };

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    body: unknown,
  ): Promise<void> {
    const target = parseStreamTarget(req, AG_UI_STREAM_PATH);
    if ('status' in target) return sendHttpError(res, target);
    let cursor: string | null;
    try {
      cursor = resumeCursor(target.cursor, req.method === 'POST' ? body : undefined, target);
    } catch (error) {
      return sendHttpError(res, httpErrorOf(error) ?? INTERNAL_ERROR);
    }
    const { operationId } = target;
    await serveEventStream(
      res,
      { ownerId: principal.ownerId, operationId, cursor, surface: 'ag-ui' },
      settings,
      (delivery) => agUiFrames(delivery, options.streams, operationId, cursor),
    );
  }

  return {
    matches: (pathname) => AG_UI_STREAM_PATH.test(pathname),
    handle,
    retryLater: (res) => endForRetry(res, retryFrame),
  };
}

/** A frame id's resume cursor: the cursor before `/` (`<cursor>/<n>`, `<cursor>/s<n>-<hex>`). */
const FRAME_ID = /^([^/]*)\/(?:\d{1,4}|s\d{1,4}-[0-9a-f]{8})$/;

/**
 * Where a stream resumes (docs/ag-ui.md), first found wins: the `Last-Event-ID` header, then
 * `?lastEventId=` (in `fromRequest`), then, on a POST, the `RunAgentInput`'s
 * `forwardedProps.lastEventId`, then its `state.cursor` when `state` is this execution's snapshot
 * (what `HttpAgent` sends back after following a stream). A frame id resumes from its cursor.
 * @throws InvalidInputError for a POST body that is not a RunAgentInput; CursorInvalidError for
 *   a `forwardedProps.lastEventId` that is not a string
 */
function resumeCursor(
  fromRequest: string | null,
  body: unknown,
  target: { operationId: string },
): string | null {
  let cursor = fromRequest;
  if (body !== undefined) {
    const input = RunAgentInputSchema.safeParse(body);
    if (!input.success) throw InvalidInputError.fromZod(input.error);
    const forwarded: unknown = input.data.forwardedProps?.lastEventId;
    if (forwarded !== undefined && typeof forwarded !== 'string') {
      throw new CursorInvalidError('forwardedProps.lastEventId must be a string cursor');
    }
    const forwardedCursor = forwarded === undefined || forwarded === '' ? null : forwarded;
    const state: unknown = input.data.state;
    const stateCursor =
      typeof state === 'object' &&
      state !== null &&
      (state as { operationId?: unknown }).operationId === target.operationId &&
      typeof (state as { cursor?: unknown }).cursor === 'string'
        ? (state as { cursor: string }).cursor
        : null;
    cursor ??= forwardedCursor ?? stateCursor;
  }
  if (cursor === null) return null;
  return FRAME_ID.exec(cursor)?.[1] ?? cursor;
}
