import { randomBytes } from 'node:crypto';
import {
  type Envelope,
  type ExecutionType,
  ExecutionTypeSchema,
  isTerminalStatus,
  type OperationId,
} from '@execstream/event-schema';
import { z } from 'zod';
import { parseDrafts, prepareBatch } from './batch.ts';
import type { ClaimWaiters } from './claim-waiters.ts';
import {
  ConflictError,
  ExecutionNotFoundError,
  ExecutionStreamError,
  ExecutionTerminalError,
  InvalidInputError,
  LeaseLostError,
  SequenceConflictError,
  StoreUnavailableError,
} from './errors.ts';
import type {
  AppendResult,
  Claim,
  CreateExecutionInput,
  CreateExecutionResult,
  ExecutionRecord,
  ExecutionStreams,
  Lease,
  ProducerAppendOptions,
  StreamBackend,
} from './types.ts';

/** How long an `Idempotency-Key` of a producer's append is remembered (CONTRACT §12: 24 h). */
export const IDEMPOTENCY_TTL_MS = 86_400_000;

/** Bounds of the producer API's inputs (CONTRACT §12). */
export const PRODUCER_LIMITS = {
  /** A lease lasts at most 10 minutes without renewal. */
  maxLeaseMs: 600_000,
  /** A claim waits at most 30 s. */
  maxWaitMs: 30_000,
} as const;

// How many candidates one claim attempt tries; more contenders than this retry the next round.
const CANDIDATES_PER_ROUND = 16;
// Rounds of one look: bounds the work of a claim in a crowd; a waiting claim looks again later.
const MAX_CLAIM_ROUNDS = 8;
// Compare-and-set retries of an append racing other writers without `expectedSequence`.
const MAX_COMMIT_ATTEMPTS = 32;

const IdempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 printable ASCII characters without spaces');

const LeaseMsSchema = z.number().int().min(1).max(PRODUCER_LIMITS.maxLeaseMs);

const ClaimOptionsSchema = z.object({
  types: z.array(ExecutionTypeSchema).max(16).optional(),
  leaseMs: LeaseMsSchema,
  waitMs: z.number().int().min(0).max(PRODUCER_LIMITS.maxWaitMs).default(0),
});

const AppendOptionsSchema = z.object({
  expectedSequence: z.number().int().min(1).optional(),
  leaseToken: z.string().min(1).max(256).optional(),
  idempotencyKey: IdempotencyKeySchema.optional(),
});

/** A new lease token: 192 random bits, so no worker can guess another's. */
function newLeaseToken(): string {
  return `lease_${randomBytes(24).toString('base64url')}`;
}

export type ProducerMethods = Pick<
  ExecutionStreams,
  'createOnce' | 'claim' | 'renewLease' | 'release' | 'appendBatch' | 'readProducerHead'
>;

/**
 * The producer API (CONTRACT §12) over the backend primitives, for every store alike: claims
 * with leases, fenced and idempotent appends. The HTTP routes and the demo executor both call
 * these, so there is one way to run an execution.
 */
export function producerMethods(
  backend: StreamBackend,
  deps: {
    create: (input: CreateExecutionInput) => Promise<CreateExecutionResult>;
    now: () => number;
    waiters: ClaimWaiters;
    /** Hears of other processes' creates and releases; called before a claim first waits. */
    listenClaimable: () => Promise<unknown>;
  },
): ProducerMethods {
  const { now, waiters } = deps;
  const iso = (ms: number) => new Date(ms).toISOString();

  /**
   * One look for work. Candidates other claims took first are skipped; when every candidate of a
   * round was taken, the next round reads the index again (it now shows those leases), so a
   * crowd of claims shares out what there is rather than giving up on the first few.
   */
  async function tryClaim(
    types: readonly ExecutionType[] | null,
    leaseMs: number,
  ): Promise<Claim | null> {
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const candidates = await backend.claimCandidates(types, CANDIDATES_PER_ROUND);
      if (candidates.length === 0) return null;
      for (const operationId of candidates) {
        const claimed = await tryLease(operationId, types, leaseMs);
        if (claimed) return claimed;
      }
    }
    return null;
  }

  async function tryLease(
    operationId: OperationId,
    types: readonly ExecutionType[] | null,
    leaseMs: number,
  ): Promise<Claim | null> {
    const token = newLeaseToken();
    const startedMs = now();
    if (!(await backend.acquireLease(operationId, token, leaseMs))) return null;
    const entry = await backend.readRecordAndHead(operationId);
    // The index is a hint: a type it did not know, or a run that ended meanwhile, goes back.
    if (!entry || isTerminalStatus(entry.head.status) || !typeMatches(entry.record, types)) {
      await backend.releaseLease(operationId, token);
      return null;
    }
    return {
      record: entry.record,
      head: entry.head,
      lease: { token, expiresAt: iso(startedMs + leaseMs) },
    };
  }

  return {
    async createOnce(input) {
      const { record, snapshot, created } = await deps.create(input);
      if (created) {
        return {
          record,
          first: { sequence: 1, cursor: snapshot.cursor, status: 'accepted' },
          created,
        };
      }
      if (!sameRequest(record, input)) {
        throw new ConflictError(
          `Execution ${record.operationId} exists with another owner, type or params`,
        );
      }
      // The first answer again: the execution's first event. Once trimmed (after thousands of
      // events) it is gone, and the head stands in: the retry learns where the stream is.
      const [first] = await backend.readAfter(record.operationId, '0-0', 1);
      const answer: AppendResult =
        first?.sequence === 1
          ? { sequence: 1, cursor: first.cursor, status: 'accepted' }
          : { sequence: snapshot.sequence, cursor: snapshot.cursor, status: snapshot.status };
      return { record, first: answer, created };
    },

    async claim(options) {
      const parsed = ClaimOptionsSchema.safeParse({
        types: options.types,
        leaseMs: options.leaseMs,
        waitMs: options.waitMs,
      });
      if (!parsed.success) throw InvalidInputError.fromZod(parsed.error);
      const { leaseMs, waitMs } = parsed.data;
      const types = parsed.data.types?.length ? parsed.data.types : null;
      const deadline = now() + waitMs;
      for (;;) {
        // The ticket before the look, so a wake-up between the look and the wait is not missed.
        const ticket = waiters.ticket();
        const claimed = await tryClaim(types, leaseMs);
        if (claimed) return claimed;
        const left = deadline - now();
        if (left <= 0 || options.signal?.aborted) return null;
        await deps.listenClaimable();
        await waiters.wait(ticket, left, options.signal);
      }
    },

    async renewLease(operationId, token, leaseMs) {
      const parsed = LeaseMsSchema.safeParse(leaseMs);
      if (!parsed.success)
        throw new InvalidInputError(`leaseMs: ${parsed.error.issues[0]?.message}`);
      const startedMs = now();
      if (!(await backend.acquireLease(operationId, token, leaseMs, true))) {
        if (!(await backend.readRecord(operationId))) throw new ExecutionNotFoundError(operationId);
        throw new LeaseLostError(operationId);
      }
      return { token, expiresAt: iso(startedMs + leaseMs) } satisfies Lease;
    },

    async release(operationId, token) {
      if (!(await backend.releaseLease(operationId, token))) {
        if (!(await backend.readRecord(operationId))) throw new ExecutionNotFoundError(operationId);
        throw new LeaseLostError(operationId);
      }
      waiters.wake();
    },

    async appendBatch(operationId, input, options: ProducerAppendOptions = {}) {
      const parsedOptions = AppendOptionsSchema.safeParse(options);
      if (!parsedOptions.success) throw InvalidInputError.fromZod(parsedOptions.error);
      const { expectedSequence, leaseToken, idempotencyKey } = parsedOptions.data;
      const remembered = async () => {
        if (idempotencyKey === undefined) return null;
        const stored = await backend.readAppended(operationId, idempotencyKey);
        if (stored === null) return null;
        const result = JSON.parse(stored) as AppendResult;
        return { result, envelopes: [] as Envelope[], duplicate: true };
      };
      const appendOnce = async () => {
        const drafts = parseDrafts(input);
        for (let attempt = 1; ; attempt++) {
          const head = await backend.readHead(operationId);
          if (!head) throw new ExecutionNotFoundError(operationId);
          // Terminal first: a worker whose run a user cancelled is told so, not that it lost.
          if (isTerminalStatus(head.status)) {
            throw new ExecutionTerminalError(operationId, head.status);
          }
          if (expectedSequence !== undefined && expectedSequence !== head.sequence) {
            throw new SequenceConflictError(expectedSequence, head.sequence);
          }
          const batch = prepareBatch(head, drafts, now());
          const last = batch.envelopes.at(-1) as Envelope;
          const result: AppendResult = {
            sequence: last.sequence,
            cursor: last.cursor,
            status: batch.head.status,
          };
          const outcome = await backend.commit(
            operationId,
            { baseSequence: head.sequence, ...batch },
            {
              ...(leaseToken === undefined ? {} : { leaseHolder: leaseToken }),
              ...(idempotencyKey === undefined
                ? {}
                : {
                    idempotency: {
                      key: idempotencyKey,
                      result: JSON.stringify(result),
                      ttlMs: IDEMPOTENCY_TTL_MS,
                    },
                  }),
            },
          );
          switch (outcome) {
            case 'committed':
              return { result, envelopes: batch.envelopes, duplicate: false };
            case 'missing':
              throw new ExecutionNotFoundError(operationId);
            case 'lease-lost':
              throw new LeaseLostError(operationId);
            case 'duplicate': {
              const raced = await remembered();
              if (raced) return raced;
              break;
            }
            case 'conflict':
              break;
          }
          if (expectedSequence !== undefined || attempt >= MAX_COMMIT_ATTEMPTS) {
            const current = await backend.readHead(operationId);
            if (current && isTerminalStatus(current.status)) {
              throw new ExecutionTerminalError(operationId, current.status);
            }
            throw new SequenceConflictError(
              expectedSequence ?? head.sequence,
              current?.sequence ?? head.sequence,
            );
          }
        }
      };
      // The key is looked up only when the batch is refused (or met it in the commit): on the
      // way that matters, a retry of an append that landed is refused as stale or illegal now,
      // and then answers the first result. A first append pays no extra read.
      try {
        return await appendOnce();
      } catch (error) {
        const refused =
          error instanceof ExecutionStreamError && !(error instanceof StoreUnavailableError);
        if (refused) {
          const earlier = await remembered();
          if (earlier) return earlier;
        }
        throw error;
      }
    },

    async readProducerHead(operationId: OperationId) {
      const [entry, lease] = await Promise.all([
        backend.readRecordAndHead(operationId),
        backend.readLease(operationId),
      ]);
      if (!entry) throw new ExecutionNotFoundError(operationId);
      return {
        record: entry.record,
        head: entry.head,
        lease:
          lease === null || isTerminalStatus(entry.head.status)
            ? null
            : { expiresAt: iso(lease.expiresAtMs) },
      };
    },
  };
}

function typeMatches(record: ExecutionRecord, types: readonly ExecutionType[] | null): boolean {
  return types === null || types.includes(record.type);
}

/** Whether a retried create asks for what the existing execution was created with. */
function sameRequest(record: ExecutionRecord, input: CreateExecutionInput): boolean {
  return (
    record.ownerId === input.ownerId &&
    record.type === input.type &&
    canonicalJson(record.params) === canonicalJson(input.params ?? {})
  );
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` compare equal. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(
          Object.entries(inner as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : inner,
  );
}
