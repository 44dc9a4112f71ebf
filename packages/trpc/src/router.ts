import {
  checkPingInterval,
  type Delivery,
  type DeliveryObserver,
  type DeliverySlots,
  getOwnedRecord,
  onShutdown,
  openDelivery,
  resetUnlessFinished,
  STREAM_DEFAULTS,
} from '@execstream/delivery';
import { ExecutionTypeSchema, type OperationId, OperationIdSchema } from '@execstream/event-schema';
import {
  cancelExecution,
  type ExecutionRecord,
  type ExecutionStreams,
  HISTORY_LIMIT,
  LIST_LIMIT,
} from '@execstream/stream-service';
import { initTRPC, TRPCError, tracked } from '@trpc/server';
import { z } from 'zod';
import type { ExecutionsContext } from './context.ts';
import { limitData, publicMessage, toTRPCError } from './errors.ts';
import { paramsBoundsProblem } from './params.ts';

/**
 * Who runs submitted executions: the demo executor, or a real worker fleet. It is told of new
 * executions, and it finds unfinished ones on its own too, so a lost notification is harmless.
 */
export interface ExecutionRunner {
  /** Rejects parameters it cannot run, before anything is created. @throws InvalidInputError */
  validateParams(type: ExecutionRecord['type'], params: Record<string, unknown>): void;
}

export interface ExecutionsRouterOptions {
  streams: ExecutionStreams;
  runner?: ExecutionRunner;
  /**
   * Unsent bytes a subscriber may fall behind by before it is disconnected.
   * @default 1_048_576 (1 MiB)
   */
  maxBacklogBytes?: number;
  /**
   * Interval of tRPC's SSE pings; at most 15 s (CONTRACT §5).
   * @default 10_000
   */
  pingIntervalMs?: number;
  /**
   * How long one subscription response lasts before it ends and the client resumes.
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
   * Executions of one owner not yet terminal; `submit` past it answers TOO_MANY_REQUESTS
   * (CONTRACT §8).
   * @default no limit
   */
  maxUnfinishedPerOwner?: number;
  /**
   * Open streams per principal (CONTRACT §8), shared with the other surfaces: past it a
   * subscription fails with TOO_MANY_REQUESTS and `data.retryAfterSeconds`.
   * @default no limit
   */
  slots?: DeliverySlots;
  /** Aborted on shutdown: open subscriptions end with a retryable error and resume elsewhere. */
  shutdownSignal?: AbortSignal;
}

const OperationInput = z.object({ operationId: OperationIdSchema });

/** `v2.executions.stream`'s input: served by the router, and by `createStreamRoute` too. */
export const StreamInput = OperationInput.extend({ lastEventId: z.string().nullish() });

/** Why a call without a principal is refused, the same on every procedure and route. */
export const UNAUTHORIZED_MESSAGE =
  'Missing or invalid credentials: send an X-API-KEY header (or, on a subscription, connectionParams.apiKey) or a wallet session cookie';

/** Runs a resolver step, turning stream-service errors into the one error type of the edge. */
async function edge<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw toTRPCError(error);
  }
}

/** The tRPC router of CONTRACT §6: `v2.executions.*`, every procedure scoped to its owner. */
export function createAppRouter(options: ExecutionsRouterOptions) {
  const { streams, runner, observer, shutdownSignal, slots } = options;
  const pingIntervalMs = checkPingInterval(
    options.pingIntervalMs ?? STREAM_DEFAULTS.pingIntervalMs,
  );
  const maxBacklogBytes = options.maxBacklogBytes ?? STREAM_DEFAULTS.maxBacklogBytes;
  const endGraceMs = options.endGraceMs ?? STREAM_DEFAULTS.endGraceMs;

  const t = initTRPC.context<ExecutionsContext>().create({
    // Never send stack traces, whatever NODE_ENV says (CONTRACT §7).
    isDev: false,
    sse: {
      ping: { enabled: true, intervalMs: pingIntervalMs },
      maxDurationMs: options.maxLifetimeMs ?? STREAM_DEFAULTS.maxLifetimeMs,
    },
    errorFormatter: ({ shape, error }) => ({
      ...shape,
      message: publicMessage(error),
      data: { ...shape.data, ...limitData(error) },
    }),
  });

  const authed = t.procedure.use(({ ctx, next }) => {
    if (!ctx.principal) {
      throw new TRPCError({ code: 'UNAUTHORIZED', message: UNAUTHORIZED_MESSAGE });
    }
    return next({ ctx: { ...ctx, principal: ctx.principal } });
  });

  const owned = (ownerId: string, operationId: OperationId) =>
    edge(() => getOwnedRecord(streams, ownerId, operationId));

  const executions = t.router({
    stream: authed.input(StreamInput).subscription(async function* ({ ctx, input, signal }) {
      // A listener on the client's signal for this subscription alone, and one for all streams
      // on the shutdown signal. AbortSignal.any would tie every subscription to the
      // process-wide shutdown signal for good: Node 20 keeps each combined signal in the
      // source's list of dependants forever.
      const stop = new AbortController();
      let delivery: Delivery | null = null;
      // `signal` aborts at the lifetime (tRPC's maxDurationMs) and when the client leaves.
      const end = () => {
        if (stop.signal.aborted) return;
        stop.abort();
        delivery?.close();
        // tRPC ends the response once its writer is past its current write, which waits for
        // a drain that a reader who stopped reading never gives.
        resetUnlessFinished(ctx.res, endGraceMs);
      };
      signal?.addEventListener('abort', end);
      using _shutdown = onShutdown(shutdownSignal, end);
      try {
        if (signal?.aborted) end();
        delivery = await edge(() =>
          openDelivery({
            streams,
            ownerId: ctx.principal.ownerId,
            operationId: input.operationId,
            cursor: input.lastEventId ?? null,
            signal: stop.signal,
            surface: 'trpc',
            maxBacklogBytes,
            onOverflow: () => ctx.res.destroy(),
            observer,
            slots,
          }),
        );
        if (stop.signal.aborted) delivery.close();
        try {
          for await (const { envelope } of delivery) yield tracked(envelope.cursor, envelope);
        } finally {
          delivery.close();
        }
      } finally {
        signal?.removeEventListener('abort', end);
      }
      if (shutdownSignal?.aborted) {
        // Retryable on the client: its EventSource reconnects, with its cursor, elsewhere.
        throw new TRPCError({
          code: 'SERVICE_UNAVAILABLE',
          message: 'The server is shutting down; reconnect to resume',
        });
      }
    }),

    get: authed.input(OperationInput).query(async ({ ctx, input }) => {
      await owned(ctx.principal.ownerId, input.operationId);
      return edge(() => streams.getSnapshot(input.operationId));
    }),

    detail: authed
      .input(
        OperationInput.extend({
          after: z.string().nullish(),
          limit: z.number().int().min(1).max(HISTORY_LIMIT.max).optional(),
        }),
      )
      .query(async ({ ctx, input }) => {
        await owned(ctx.principal.ownerId, input.operationId);
        const [snapshot, page] = await edge(() =>
          Promise.all([
            streams.getSnapshot(input.operationId),
            streams.readHistory(input.operationId, { after: input.after, limit: input.limit }),
          ]),
        );
        return {
          snapshot,
          events: page.events,
          nextCursor: page.nextCursor,
          retention: page.retention,
        };
      }),

    list: authed
      .input(
        z
          .object({
            cursor: z.string().max(64).nullish(),
            limit: z.number().int().min(1).max(LIST_LIMIT.max).optional(),
          })
          .optional(),
      )
      .query(({ ctx, input }) =>
        edge(() =>
          streams.listExecutions(ctx.principal.ownerId, {
            cursor: input?.cursor ?? null,
            limit: input?.limit,
          }),
        ),
      ),

    submit: authed
      .input(
        z.object({
          type: ExecutionTypeSchema,
          params: z
            .record(z.string(), z.unknown())
            .superRefine((params, context) => {
              const problem = paramsBoundsProblem(params);
              if (problem) context.addIssue({ code: 'custom', message: problem });
            })
            .optional(),
          idempotencyKey: z.string().min(1).max(256).optional(),
        }),
      )
      .mutation(async ({ ctx, input }) => {
        const params = input.params ?? {};
        const result = await edge(async () => {
          runner?.validateParams(input.type, params);
          return streams.create({
            ownerId: ctx.principal.ownerId,
            type: input.type,
            params,
            idempotencyKey: input.idempotencyKey ?? null,
            maxUnfinished: options.maxUnfinishedPerOwner,
          });
        });
        return { operationId: result.record.operationId, submittedAt: result.record.createdAt };
      }),

    cancel: authed.input(OperationInput).mutation(async ({ ctx, input }) => {
      await owned(ctx.principal.ownerId, input.operationId);
      // Lands however busy the executor is; an execution that ended first keeps its own end.
      return edge(() =>
        cancelExecution(streams, input.operationId, { reason: 'Cancelled by the owner' }),
      );
    }),
  });

  return t.router({ v2: t.router({ executions }) });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
