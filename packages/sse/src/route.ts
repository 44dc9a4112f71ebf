import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@execstream/auth';
import {
  type EventStreamOptions,
  endForRetry,
  frameCache,
  openResponseDelivery,
  operationPathPattern,
  parseStreamTarget,
  refuseStream,
  resolveStreamOptions,
  runStreamSession,
  SSE_HEADERS,
  STREAM_DEFAULTS,
  type StreamFraming,
  sendHttpError,
  sharedFraming,
} from '@execstream/delivery';
import { encodeSseFrame, encodeSseRetry, SSE_PING_FRAME } from '@execstream/event-schema';

/** The raw route's options: those of every SSE surface. */
export type ExecutionStreamRouteOptions = EventStreamOptions;

/** The raw route's path (CONTRACT §5), in Fastify's form. */
export const EXECUTION_STREAM_PATH = '/v1/executions/:operationId/stream';
const PATH = operationPathPattern(EXECUTION_STREAM_PATH);

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
    return runStreamSession(res, delivery, framing, options);
  }

  return {
    matches: (pathname) => PATH.test(pathname),
    handle,
    retryLater: (res) => endForRetry(res, retryFrame),
  };
}
