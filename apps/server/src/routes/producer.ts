import type { Principal } from '@execstream/auth';
import {
  type HttpError,
  httpErrorOf,
  OPERATION_ID_INVALID,
  UNAUTHORIZED,
} from '@execstream/delivery';
import {
  type ExecutionHead,
  ExecutionTypeSchema,
  isOperationId,
  OperationIdSchema,
} from '@execstream/event-schema';
import {
  type ExecutionRecord,
  type ExecutionStreams,
  IllegalTransitionError,
  InvalidEventError,
  InvalidInputError,
  PRODUCER_LIMITS,
  SequenceConflictError,
  TooManyRequestsError,
} from '@execstream/stream-service';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { sendError } from '../app.ts';

export interface ProducerRouteOptions {
  streams: ExecutionStreams;
  principalOf: (req: FastifyRequest) => Promise<Principal | null>;
  /** Owners' unfinished executions (CONTRACT §8); producer creates count toward it. */
  maxUnfinishedPerOwner: number;
  /** Appends one producer key may make per second, every instance together. */
  appendsPerSecond: number;
  /** Events one append may carry. */
  maxBatchEvents: number;
}

/** The producer routes and the methods each serves, for the 405 of the others. */
export const PRODUCER_ROUTES = [
  { pattern: /^\/v1\/producer\/executions$/, allow: 'POST' },
  { pattern: /^\/v1\/producer\/claims$/, allow: 'POST' },
  {
    pattern: /^\/v1\/producer\/executions\/[^/]+$/,
    allow: 'GET',
    badUrl: OPERATION_ID_INVALID,
  },
  {
    pattern: /^\/v1\/producer\/executions\/[^/]+\/lease$/,
    allow: 'PUT, DELETE',
    badUrl: OPERATION_ID_INVALID,
  },
  {
    pattern: /^\/v1\/producer\/executions\/[^/]+\/events$/,
    allow: 'POST',
    badUrl: OPERATION_ID_INVALID,
  },
];

// The request bodies of CONTRACT §12. Unknown keys are refused: a typo (`leaseMS`) must not
// silently fall back to a default.
const LeaseMs = z.number().int().min(1).max(PRODUCER_LIMITS.maxLeaseMs);
const Token = z.string().min(1).max(256);

export const ProducerSchemas = {
  create: z.strictObject({
    operationId: z.optional(OperationIdSchema),
    ownerId: z
      .string()
      .regex(
        /^[A-Za-z0-9._:@-]{1,256}$/,
        'ownerId must be 1 to 256 characters of A-Z a-z 0-9 . _ : @ -',
      ),
    type: ExecutionTypeSchema,
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  claim: z.strictObject({
    types: z.array(ExecutionTypeSchema).max(16).optional(),
    leaseMs: LeaseMs,
    waitMs: z.number().int().min(0).max(PRODUCER_LIMITS.maxWaitMs).optional(),
  }),
  renew: z.strictObject({ token: Token, leaseMs: LeaseMs }),
  release: z.strictObject({ token: Token }),
  append: z.strictObject({
    // The events themselves are checked by the stream service, which names the bad one (422).
    events: z.array(z.unknown()),
    expectedSequence: z.number().int().min(1).optional(),
    leaseToken: Token.optional(),
  }),
} as const;

/** The answers of CONTRACT §12, for the OpenAPI document. */
export const ProducerAnswers = {
  created: z.object({
    operationId: OperationIdSchema,
    status: z.literal('accepted'),
    sequence: z.number().int(),
    cursor: z.string(),
  }),
  appended: z.object({ sequence: z.number().int(), cursor: z.string(), status: z.string() }),
  lease: z.object({ lease: z.object({ token: z.string(), expiresAt: z.iso.datetime() }) }),
} as const;

const IDEMPOTENCY_HEADER = 'idempotency-key';

/**
 * The producer API (CONTRACT §12) at `/v1/producer/*`: producer keys only (the credential guard
 * refuses every other credential here, and producer keys everywhere else). Every route is a thin
 * call of one stream-service function, the same ones the demo executor runs on.
 */
export const producerRoutes: FastifyPluginAsync<ProducerRouteOptions> = async (app, options) => {
  const { streams } = options;
  // Counted per producer key: the key of a request is known once it has been authenticated
  // (the credential guard settles req.principal).
  const countAppend = app.createRateLimit({
    max: options.appendsPerSecond,
    timeWindow: 1_000,
    // Its own keys beside the failed-check counter's (bare addresses) in the same store.
    keyGenerator: (req) => `producer-appends:${req.principal?.credentialId ?? req.ip}`,
  });

  const producer = async (req: FastifyRequest): Promise<Principal> => {
    const principal = await options.principalOf(req);
    if (!principal) throw new RouteError(UNAUTHORIZED);
    return principal;
  };

  app.post('/v1/producer/executions', async (req, reply) => {
    await producer(req);
    const body = parse(ProducerSchemas.create, req.body);
    const { record, first, created } = await streams.createOnce({
      ...body,
      maxUnfinished: options.maxUnfinishedPerOwner,
    });
    reply.code(created ? 201 : 200).header('Cache-Control', 'no-store');
    return { operationId: record.operationId, ...first };
  });

  app.post('/v1/producer/claims', async (req, reply) => {
    await producer(req);
    const body = parse(ProducerSchemas.claim, req.body);
    // A client that leaves a long poll stops it; a claim made as it left is given back.
    const left = new AbortController();
    const onClose = () => left.abort();
    reply.raw.once('close', onClose);
    try {
      const claim = await streams.claim({ ...body, signal: left.signal });
      if (!claim) return reply.code(204).header('Cache-Control', 'no-store').send();
      if (left.signal.aborted) {
        await streams.release(claim.record.operationId, claim.lease.token).catch(() => {});
        return reply.code(204).send();
      }
      reply.header('Cache-Control', 'no-store');
      return executionAnswer(claim);
    } finally {
      reply.raw.off('close', onClose);
    }
  });

  app.get(
    '/v1/producer/executions/:operationId',
    { exposeHeadRoute: false },
    async (req, reply) => {
      await producer(req);
      const operationId = operationIdOf(req);
      reply.header('Cache-Control', 'no-store');
      return executionAnswer(await streams.readProducerHead(operationId));
    },
  );

  app.put('/v1/producer/executions/:operationId/lease', async (req, reply) => {
    await producer(req);
    const operationId = operationIdOf(req);
    const { token, leaseMs } = parse(ProducerSchemas.renew, req.body);
    const lease = await streams.renewLease(operationId, token, leaseMs);
    reply.header('Cache-Control', 'no-store');
    return { lease };
  });

  app.delete('/v1/producer/executions/:operationId/lease', async (req, reply) => {
    await producer(req);
    const operationId = operationIdOf(req);
    const { token } = parse(ProducerSchemas.release, req.body);
    await streams.release(operationId, token);
    return reply.code(204).send();
  });

  app.post('/v1/producer/executions/:operationId/events', async (req, reply) => {
    await producer(req);
    const operationId = operationIdOf(req);
    const count = await countAppend(req);
    if (!count.isAllowed && count.isExceeded) {
      throw new TooManyRequestsError(
        'RATE_LIMITED',
        `At most ${options.appendsPerSecond} appends per second per producer key; retry later`,
        count.ttlInSeconds,
      );
    }
    const body = parse(ProducerSchemas.append, req.body);
    if (body.events.length > options.maxBatchEvents) {
      throw new InvalidEventError(`events: at most ${options.maxBatchEvents} events per append`);
    }
    const idempotencyKey = req.headers[IDEMPOTENCY_HEADER];
    if (Array.isArray(idempotencyKey)) {
      throw new InvalidInputError('Send one Idempotency-Key header');
    }
    try {
      const { result, duplicate } = await streams.appendBatch(operationId, body.events, {
        expectedSequence: body.expectedSequence,
        leaseToken: body.leaseToken,
        idempotencyKey,
      });
      reply.code(201).header('Cache-Control', 'no-store');
      if (duplicate) reply.header('Idempotent-Replayed', 'true');
      return result;
    } catch (error) {
      if (error instanceof SequenceConflictError) {
        // The head, so the worker can decide without another read.
        const { head } = await streams.readProducerHead(operationId);
        throw new RouteError(
          {
            status: 409,
            code: 'SEQUENCE_CONFLICT',
            message: `expectedSequence ${error.expected} is not the head (${head.sequence})`,
          },
          { head: { sequence: head.sequence, cursor: head.cursor } },
        );
      }
      throw error;
    }
  });

  // Errors of these routes: a RouteError as it is; an invalid event, or a transition the
  // status does not allow, is 422 INVALID_EVENT naming it (CONTRACT §12); the rest goes to the
  // server's own handler, as anywhere.
  app.setErrorHandler((error, _req, reply) => {
    if (error instanceof RouteError) return sendRouteError(reply, error.answer, error.extra);
    if (error instanceof InvalidEventError || error instanceof IllegalTransitionError) {
      return sendError(reply, { status: 422, code: 'INVALID_EVENT', message: error.message });
    }
    const known = httpErrorOf(error);
    if (known) return sendError(reply, known);
    throw error;
  });
};

/**
 * An execution as a worker sees it: a claim (whose lease holds its token) or a head (whose
 * lease holds when it ends, never the token).
 */
function executionAnswer<L>({
  record,
  head,
  lease,
}: {
  record: ExecutionRecord;
  head: ExecutionHead;
  lease: L;
}) {
  return {
    operationId: record.operationId,
    ownerId: record.ownerId,
    type: record.type,
    params: record.params,
    status: head.status,
    sequence: head.sequence,
    cursor: head.cursor,
    lease,
  };
}

/** A refusal this module answers itself, possibly with fields beside `code` and `message`. */
class RouteError extends Error {
  constructor(
    readonly answer: HttpError,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(answer.message);
  }
}

function sendRouteError(reply: FastifyReply, answer: HttpError, extra: Record<string, unknown>) {
  if (Object.keys(extra).length === 0) return sendError(reply, answer);
  reply
    .code(answer.status)
    .header('Cache-Control', 'no-store')
    .type('application/json; charset=utf-8')
    .send({ success: false, error: { code: answer.code, message: answer.message, ...extra } });
}

function operationIdOf(req: FastifyRequest): string {
  const { operationId } = req.params as { operationId: string };
  if (!isOperationId(operationId)) throw new RouteError(OPERATION_ID_INVALID);
  return operationId;
}

/** The body, checked; 400 INVALID_INPUT naming the first bad field. */
function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? null);
  if (!parsed.success) throw InvalidInputError.fromZod(parsed.error);
  return parsed.data;
}
