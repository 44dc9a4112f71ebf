import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@execstream/auth';
import {
  type Delivery,
  frameCache,
  lastEventIdOf,
  openResponseDelivery,
  resolveStreamOptions,
  runStreamSession,
  SSE_HEADERS,
  type StreamFraming,
  type StreamOptions,
  sharedFraming,
} from '@execstream/delivery';
import { getTRPCErrorShape, TRPCError } from '@trpc/server';
import { toTRPCError } from './errors.ts';
import { type AppRouter, StreamInput, UNAUTHORIZED_MESSAGE } from './router.ts';

/** The procedure this route serves, at `<base>/v2.executions.stream`. */
export const STREAM_PROCEDURE = 'v2.executions.stream';

export interface TrpcStreamRouteOptions extends StreamOptions {
  /** The router that declares the procedure: its error formatter shapes every error sent. */
  router: AppRouter;
}

/** The caller of a subscription request, from its headers and its `connectionParams`. */
export type SubscriptionPrincipalOf = (
  connectionParams: Record<string, string | undefined> | null,
) => Promise<Principal | null>;

/**
 * `v2.executions.stream` served from the delivery core, in tRPC's SSE wire protocol: what
 * `httpSubscriptionLink` reads (a `connected` event; each event as `data:` + `id:`, the tracked
 * cursor; `ping` events; `return` at the end; errors as `serialized-error` with the router's
 * error shape, on a 200 like tRPC's own). The router still declares the procedure, for its types
 * and for whoever mounts it with a plain tRPC adapter.
 *
 * Why not tRPC's own pipeline: it runs every event of every reader through WHATWG streams (a
 * readable, a transform, a text encoder) and an async generator per reader, and its CPU per
 * delivered event is ten times the raw route's; with a thousand readers of one execution it
 * stopped delivering. Here each event is encoded once for every reader, as on the raw route, and
 * both share one stream session.
 */
export interface TrpcStreamRoute {
  /** True for a request this route serves: a GET of the procedure alone, not in a batch. */
  handles(method: string | undefined, path: string, url: URL): boolean;
  /** Serves the stream; never throws: every failure is answered on `res`. */
  serve(
    req: IncomingMessage,
    res: ServerResponse,
    principalOf: SubscriptionPrincipalOf,
  ): Promise<void>;
}

export function createStreamRoute(routeOptions: TrpcStreamRouteOptions): TrpcStreamRoute {
  const options = resolveStreamOptions(routeOptions);
  const { router } = routeOptions;
  const event = (name: string, data = '') => `event: ${name}\ndata: ${data}\n\n\n`;
  const errorFrame = (error: TRPCError, input: unknown) =>
    event(
      'serialized-error',
      JSON.stringify(
        getTRPCErrorShape({
          config: router._def._config,
          error,
          type: 'subscription',
          path: STREAM_PROCEDURE,
          input,
          ctx: undefined,
        }),
      ),
    );
  // tRPC's own line order: the tracked id after the data.
  const frame = frameCache((envelope, data) => `data: ${data}\nid: ${envelope.cursor}\n\n\n`);
  const framing: StreamFraming = {
    // tRPC's own content type, without a charset; the rest as on every stream.
    headers: { ...SSE_HEADERS, 'Content-Type': 'text/event-stream' },
    preamble: event('connected', '{}'),
    ping: event('ping'),
    frame,
    spool: sharedFraming(frame),
    completed: event('return'),
    // Retryable: the link's EventSource reconnects, with its cursor, elsewhere.
    shuttingDown: errorFrame(
      new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
        message: 'The server is shutting down; reconnect to resume',
      }),
      undefined,
    ),
  };

  /** A whole response that says one thing: an error, or the end of a stream with nothing left. */
  const answer = (res: ServerResponse, frame: string) => {
    res.writeHead(200, framing.headers);
    res.end(framing.preamble + frame);
  };

  async function serve(
    req: IncomingMessage,
    res: ServerResponse,
    principalOf: SubscriptionPrincipalOf,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let input: unknown;
    const fail = (cause: unknown) => {
      const error = toTRPCError(cause);
      if (error.code === 'INTERNAL_SERVER_ERROR') options.onUnexpectedError?.(error.cause ?? error);
      answer(res, errorFrame(error, input));
    };
    let principal: Principal | null;
    try {
      principal = await principalOf(
        parseConnectionParams(url.searchParams.get('connectionParams')),
      );
    } catch (error) {
      return fail(error);
    }
    if (!principal) {
      return fail(new TRPCError({ code: 'UNAUTHORIZED', message: UNAUTHORIZED_MESSAGE }));
    }
    try {
      input = readInput(req, url);
    } catch (error) {
      return fail(error);
    }
    const parsed = StreamInput.safeParse(input);
    if (!parsed.success) {
      return fail(
        new TRPCError({ code: 'BAD_REQUEST', message: 'Invalid input', cause: parsed.error }),
      );
    }
    let delivery: Delivery;
    try {
      delivery = await openResponseDelivery(res, options, {
        ownerId: principal.ownerId,
        operationId: parsed.data.operationId,
        cursor: parsed.data.lastEventId ?? null,
        surface: 'trpc',
      });
    } catch (error) {
      return fail(error);
    }
    if (delivery.nothingToSend) return answer(res, framing.completed ?? '');
    return runStreamSession(res, delivery, framing, options);
  }

  return {
    handles: (method, path, url) =>
      // A batch is `batch=1`, as tRPC reads it; anything else is a single call.
      method === 'GET' && path === STREAM_PROCEDURE && url.searchParams.get('batch') !== '1',
    serve,
  };
}

/**
 * The input as tRPC reads it: `?input=` as JSON, with the cursor an EventSource sends on its own
 * reconnects (`Last-Event-ID`, or `?lastEventId=`) put in as `lastEventId`, which wins.
 * @throws TRPCError BAD_REQUEST for input that is not JSON
 */
function readInput(req: IncomingMessage, url: URL): unknown {
  const raw = url.searchParams.get('input');
  let input: unknown;
  if (raw !== null) {
    try {
      input = JSON.parse(raw);
    } catch (cause) {
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'Invalid JSON', cause });
    }
  }
  const lastEventId = lastEventIdOf(req, url);
  if (!lastEventId) return input;
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    return { ...input, lastEventId };
  }
  return input ?? { lastEventId };
}

/**
 * `?connectionParams=`, a JSON object of strings, as `httpSubscriptionLink` sends it.
 * @throws TRPCError BAD_REQUEST when it is not one
 */
function parseConnectionParams(raw: string | null): Record<string, string | undefined> | null {
  if (raw === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'Invalid JSON', cause });
  }
  if (parsed === null) return null;
  if (
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    Object.values(parsed).some((value) => typeof value !== 'string')
  ) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: 'connectionParams must be a JSON object of strings',
    });
  }
  return parsed as Record<string, string>;
}
