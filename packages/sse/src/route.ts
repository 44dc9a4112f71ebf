import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticate } from '@execstream/auth';
import { type DeliveryObserver, type DeliverySlots, openDelivery } from '@execstream/delivery';
import {
  encodeSseFrame,
  encodeSseRetry,
  isOperationId,
  SSE_PING_FRAME,
} from '@execstream/event-schema';
import type { ExecutionStreams } from '@execstream/stream-service';
import { resetUnlessFinished } from './finish.ts';
import {
  type HttpError,
  httpErrorOf,
  INTERNAL_ERROR,
  sendHttpError,
  UNAUTHORIZED,
} from './http-error.ts';
import { checkPingInterval, STREAM_DEFAULTS } from './stream-options.ts';

export interface ExecutionStreamRouteOptions {
  streams: ExecutionStreams;
  authenticate: Authenticate;
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

/** The raw SSE route, `GET /v1/executions/:operationId/stream` (CONTRACT §5). */
export interface ExecutionStreamRoute {
  matches(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const fail = (error: unknown) => {
      const known = httpErrorOf(error);
      if (!known) options.onUnexpectedError?.(error);
      sendHttpError(res, known ?? INTERNAL_ERROR);
    };
    // Credentials first (CONTRACT §7): without them, every method gets the same 401.
    let principal: Awaited<ReturnType<Authenticate>>;
    try {
      principal = await options.authenticate({ headers: req.headers });
    } catch (error) {
      return fail(error);
    }
    if (!principal) return sendHttpError(res, UNAUTHORIZED);
    // HEAD too: a stream has no length or status to tell without opening it.
    if (req.method !== 'GET') {
      return sendHttpError(
        res,
        { status: 405, code: 'METHOD_NOT_ALLOWED', message: 'Use GET' },
        { Allow: 'GET' },
      );
    }

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
      return fail(error);
    }
    if (delivery.nothingToSend) {
      // 204 is the one answer that makes EventSource stop reconnecting (CONTRACT §4).
      res.writeHead(204);
      res.end();
      return;
    }

    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    // The first frame carries `retry:` alone, so the client has it even before the first event.
    res.write(retryFrame);
    const ping = setInterval(() => res.write(SSE_PING_FRAME), pingIntervalMs);
    // Lifetime and shutdown end the response cleanly, and the client resumes from its cursor.
    // The loop below may be waiting for a drain that a reader who stopped reading never gives,
    // so the end does not wait for it, and the connection is reset if the end does not get through.
    const finish = () => {
      clearInterval(ping);
      clearTimeout(lifetime);
      options.shutdownSignal?.removeEventListener('abort', finish);
      delivery.close();
      res.end();
      resetUnlessFinished(res, endGraceMs);
    };
    const lifetime = setTimeout(finish, maxLifetimeMs);
    options.shutdownSignal?.addEventListener('abort', finish);
    if (options.shutdownSignal?.aborted) finish();
    try {
      for await (const { envelope, data } of delivery) {
        const frame = encodeSseFrame({ id: envelope.cursor, event: envelope.kind, data });
        if (!res.write(frame)) await drained(res);
      }
      res.end();
    } catch (error) {
      // Headers are out: all that is left is to end, and the client resumes from its cursor.
      options.onUnexpectedError?.(error);
      res.destroy();
    } finally {
      clearInterval(ping);
      clearTimeout(lifetime);
      options.shutdownSignal?.removeEventListener('abort', finish);
      res.off('close', release);
      delivery.close();
    }
  }

  return { matches: (pathname) => PATH.test(pathname), handle };
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
  if (!isOperationId(operationId)) {
    return {
      status: 400,
      code: 'OPERATION_ID_INVALID',
      message: 'operationId must match op_[A-Za-z0-9_-]{1,64}',
    };
  }
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
