import type { IncomingMessage, ServerResponse } from 'node:http';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import type { Principal } from '@execstream/auth';
import {
  type Delivery,
  type EventStreamOptions,
  endForRetry,
  openResponseDelivery,
  operationPathPattern,
  parseStreamTarget,
  refuseStream,
  resolveStreamOptions,
  runStreamSession,
  type SpoolFraming,
  STREAM_DEFAULTS,
  sendHttpError,
} from '@execstream/delivery';
import { type ExecutionSnapshot, encodeSseRetry } from '@execstream/event-schema';
import { CursorInvalidError, InvalidInputError } from '@execstream/stream-service';
import { agUiFraming } from './frames.ts';
import { AgUiLiveFrames } from './live.ts';
import { AgUiRun } from './mapping.ts';

/** The raw SSE route's options, with the same defaults (docs/server.md). */
export type AgUiStreamRouteOptions = EventStreamOptions;

/** The AG-UI stream's path (CONTRACT §10), in Fastify's form. */
export const AG_UI_STREAM_PATH = '/v1/ai/executions/:operationId/ag-ui-stream';
const PATH = operationPathPattern(AG_UI_STREAM_PATH);

/**
 * The AG-UI stream, `GET` and `POST /v1/ai/executions/:operationId/ag-ui-stream`, for a caller
 * the server has already authenticated. A thin sibling of the raw SSE route: the same delivery,
 * stream session and answers, with the AG-UI framing (`agUiFraming`) in place of envelope frames.
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

export function createAgUiStreamRoute(routeOptions: AgUiStreamRouteOptions): AgUiStreamRoute {
  const options = resolveStreamOptions(routeOptions);
  const retryFrame = encodeSseRetry(routeOptions.retryMs ?? STREAM_DEFAULTS.retryMs);
  // The route's readers share one spool per execution.
  const spoolKey = {};

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    body: unknown,
  ): Promise<void> {
    const target = parseStreamTarget(req, PATH);
    if ('status' in target) return sendHttpError(res, target);
    const { operationId } = target;
    let delivery: Delivery | null = null;
    let cursor: string | null;
    let base: ExecutionSnapshot | null = null;
    try {
      cursor = resumeCursor(target.cursor, req.method === 'POST' ? body : undefined, target);
      delivery = await openResponseDelivery(res, options, {
        ownerId: principal.ownerId,
        operationId,
        cursor,
        surface: 'ag-ui',
      });
      if (delivery.nothingToSend) {
        // 204 is the one answer that makes EventSource stop reconnecting (CONTRACT §4).
        res.writeHead(204);
        res.end();
        return;
      }
      // Read once the delivery is open, so it includes every event the delivery replays up to it.
      if (cursor !== null) base = await options.streams.getSnapshot(operationId);
    } catch (error) {
      delivery?.close();
      return refuseStream(res, error, retryFrame, options.onUnexpectedError);
    }
    const run = new AgUiRun(operationId);
    const spool: SpoolFraming = {
      key: spoolKey,
      framesFor: (id) => new AgUiLiveFrames(id),
      admits: (frames) => (frames as AgUiLiveFrames).admits(run),
      left(frames, last) {
        // Too far back to know the state it stopped at: it resumes from its cursor instead.
        if (!(frames as AgUiLiveFrames).restore(run, last.sequence)) res.destroy();
      },
    };
    const framing = agUiFraming(run, { retryFrame, cursor, base });
    return runStreamSession(res, delivery, { ...framing, spool }, options);
  }

  return {
    matches: (pathname) => PATH.test(pathname),
    handle,
    retryLater: (res) => endForRetry(res, retryFrame),
  };
}

/** A frame id's resume cursor: the cursor before `/` (`<cursor>/<n>`, `<cursor>/s<n>-<hex>`). */
const FRAME_ID = /^([^/]*)\/(?:\d+|s\d+-[0-9a-f]{8})$/;

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
