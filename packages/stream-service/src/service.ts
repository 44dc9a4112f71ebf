import { randomInt } from 'node:crypto';
import {
  CursorSchema,
  type Envelope,
  type EventDraft,
  type ExecutionHead,
  ExecutionTypeSchema,
  firstCursor,
  foldExecution,
  initialSnapshot,
  makeEnvelope,
  newOperationId,
  type OperationId,
  OperationIdSchema,
  START_CURSOR,
  streamIdOf,
} from '@execstream/event-schema';
import { z } from 'zod';
import { parseDrafts, prepareBatch } from './batch.ts';
import { ClaimWaiters } from './claim-waiters.ts';
import {
  CursorInvalidError,
  ExecutionNotFoundError,
  InvalidInputError,
  SequenceConflictError,
} from './errors.ts';
import { LiveFeed, TAIL_DEFAULTS } from './live-feed.ts';
import { producerMethods } from './producer-api.ts';
import {
  LiveSubscription,
  type StartHead,
  type StartPoint,
  type SubscriptionStore,
} from './subscription.ts';
import type {
  AppendOptions,
  CreateExecutionInput,
  ExecutionRecord,
  ExecutionStreams,
  StreamBackend,
  StreamServiceOptions,
  TailOptions,
} from './types.ts';
import { createCounted, PruneThrottle } from './unfinished-limit.ts';

/** Page size bounds of `readHistory` (CONTRACT §6: `limit` 1..1000). */
export const HISTORY_LIMIT = { default: 100, max: 1000 } as const;
export const LIST_LIMIT = { default: 20, max: 100 } as const;

// Compare-and-set retries when producers race without `expectedSequence`. Each retry re-reads
// the head, so this bounds contention, not correctness.
const MAX_COMMIT_ATTEMPTS = 32;

// Each stream's id sequence starts at a random offset below this (2^40) so that streams do not
// share ids; see `nextCursors`. Far below 2^64: a stream never runs out.
const CURSOR_OFFSET_RANGE = 2 ** 40;

const CreateInputSchema = z.object({
  ownerId: z.string().min(1, 'ownerId must not be empty').max(256),
  type: ExecutionTypeSchema,
  params: z.record(z.string(), z.unknown()).default({}),
  idempotencyKey: z.string().min(1).max(256).nullish(),
  operationId: z.optional(OperationIdSchema),
  maxUnfinished: z.number().int().min(1).optional(),
});

/**
 * Builds the stream service on a storage backend: every rule of CONTRACT §3–§4 lives here once,
 * above the backend primitives.
 */
export function createStreamService(
  backend: StreamBackend,
  options: StreamServiceOptions = {},
): ExecutionStreams {
  const maxQueued = options.maxQueuedEvents ?? 1024;
  const pageSize = options.replayPageSize ?? 500;
  const now = options.now ?? Date.now;
  let openSubscriptions = 0;
  // One function for every subscription, not a closure made per open stream.
  const subscriptionClosed = () => {
    openSubscriptions--;
  };
  let storeReads = 0;
  const tailLimits = checkTailLimits({
    maxEvents: options.tail?.maxEvents ?? TAIL_DEFAULTS.maxEvents,
    maxBytes: options.tail?.maxBytes ?? TAIL_DEFAULTS.maxBytes,
    lingerMs: options.tail?.lingerMs ?? TAIL_DEFAULTS.lingerMs,
  });
  /** The live side of each execution with subscriptions (or lingering after its last one). */
  const feeds = new Map<OperationId, LiveFeed>();
  const feedOf = (operationId: OperationId): LiveFeed => {
    let feed = feeds.get(operationId);
    if (!feed) {
      const created = new LiveFeed(operationId, tailLimits, () => {
        if (feeds.get(operationId) === created) feeds.delete(operationId);
      });
      feeds.set(operationId, created);
      feed = created;
    }
    return feed;
  };
  const store: SubscriptionStore = {
    backend,
    counted(read) {
      storeReads++;
      return read();
    },
  };
  const pruneThrottle = new PruneThrottle(options.pruneIntervalMs ?? 5_000);
  const waiters = new ClaimWaiters(options.claimPollMs ?? 200);
  // Other processes' creates and releases wake this one's waiting claims, once a claim waits.
  let claimable: Promise<unknown> | null = null;
  const listenClaimable = () => {
    claimable ??=
      backend
        .listenClaimable?.(() => waiters.wake())
        // What was published before the subscription was missed: waiting claims look again.
        .then(() => waiters.wake())
        .catch(() => {
          claimable = null; // the poll covers it meanwhile; the next waiting claim tries again
        }) ?? Promise.resolve();
    return claimable;
  };

  async function readStateOrThrow(operationId: OperationId) {
    const state = await backend.readState(operationId);
    if (!state) throw new ExecutionNotFoundError(operationId);
    return state;
  }

  async function readHeadOrThrow(operationId: OperationId) {
    const head = await backend.readHead(operationId);
    if (!head) throw new ExecutionNotFoundError(operationId);
    return head;
  }

  /**
   * Where a subscription starts, reading as little as the cursor allows, and checking the owner
   * in the same reads. A cursor inside the feed's tail, on a feed that knows the record, reads
   * nothing: the tail holds every event after it. Otherwise: no cursor, the whole state (record
   * and snapshot) in one read; a cursor, the record and head in one read, then the cursor's event
   * with the first page of the replay after it in another. The cursor `0` reads the first
   * retained event instead.
   */
  async function startPointFor(
    feed: LiveFeed,
    cursor: string | null,
    ownerId: string | undefined,
  ): Promise<{ start: StartPoint; head: StartHead; firstPage?: Envelope[] }> {
    const { operationId } = feed;
    const owned = (record: ExecutionRecord | null | undefined) =>
      record !== null &&
      record !== undefined &&
      (ownerId === undefined || record.ownerId === ownerId);
    const snapshotStart = async () => {
      const state = await store.counted(() => backend.readState(operationId));
      if (!state || !owned(state.record)) throw new ExecutionNotFoundError(operationId);
      feed.record ??= state.record;
      return {
        start: { kind: 'snapshot', snapshot: state.snapshot } as const,
        head: state.snapshot,
      };
    };
    if (cursor === null) return snapshotStart();
    const fromTail = cursor === START_CURSOR ? null : feed.at(cursor);
    if (fromTail && feed.record) {
      if (!owned(feed.record)) throw new ExecutionNotFoundError(operationId);
      const last = feed.tail().at(-1) as Envelope;
      const head = { sequence: last.sequence, status: statusAfter(last) };
      return {
        start: { kind: 'after', sequence: fromTail.sequence, cursor },
        head,
        firstPage: feed.after(fromTail.sequence, pageSize) ?? [],
      };
    }
    const entry = await store.counted(() => backend.readRecordAndHead(operationId));
    if (!entry || !owned(entry.record)) throw new ExecutionNotFoundError(operationId);
    feed.record ??= entry.record;
    const { head } = entry;
    if (cursor === START_CURSOR) {
      const [first] = await store.counted(() => backend.readAfter(operationId, START_CURSOR, 1));
      // Nothing trimmed yet: replay everything. Otherwise the snapshot covers what is gone.
      if (first?.sequence === 1) return { start: { kind: 'after', sequence: 0, cursor }, head };
      return snapshotStart();
    }
    const [event, ...firstPage] = await store.counted(() =>
      backend.readFrom(operationId, cursor, pageSize + 1),
    );
    if (!event) return snapshotStart(); // trimmed, expired or another stream's
    return { start: { kind: 'after', sequence: event.sequence, cursor }, head, firstPage };
  }

  function close(): Promise<void> {
    for (const feed of feeds.values()) feed.close();
    feeds.clear();
    return backend.close();
  }

  const service: ExecutionStreams = {
    async create(input: CreateExecutionInput) {
      const parsed = CreateInputSchema.safeParse(input);
      if (!parsed.success) throw InvalidInputError.fromZod(parsed.error);
      const { ownerId, type, params, idempotencyKey, maxUnfinished } = parsed.data;
      const operationId = parsed.data.operationId ?? newOperationId();
      const nowMs = now();
      const createdAt = new Date(nowMs).toISOString();
      const record: ExecutionRecord = {
        operationId,
        ownerId,
        type,
        params,
        createdAt,
        idempotencyKey: idempotencyKey ?? null,
      };
      const first = makeEnvelope({
        streamId: streamIdOf(operationId),
        cursor: firstCursor(nowMs, randomInt(CURSOR_OFFSET_RANGE)),
        sequence: 1,
        ts: createdAt,
        kind: 'execution.state_changed',
        operationId,
        payload: { from: null, to: 'accepted' },
      });
      const snapshot = foldExecution(initialSnapshot({ operationId, type, createdAt }), [first]);
      const { state, created } = await createCounted(backend, {
        record,
        first,
        snapshot,
        limit: maxUnfinished ?? null,
        nowMs,
        throttle: pruneThrottle,
      });
      // A claim waiting in this process takes it at once.
      if (created) waiters.wake();
      return { record: state.record, snapshot: state.snapshot, created };
    },

    async getRecord(operationId) {
      return backend.readRecord(operationId);
    },

    async getSnapshot(operationId) {
      return (await readStateOrThrow(operationId)).snapshot;
    },

    async append(operationId, input: EventDraft[], appendOptions: AppendOptions = {}) {
      const drafts = parseDrafts(input);
      const { expectedSequence } = appendOptions;
      for (let attempt = 1; ; attempt++) {
        const head = await readHeadOrThrow(operationId);
        if (expectedSequence !== undefined && expectedSequence !== head.sequence) {
          throw new SequenceConflictError(expectedSequence, head.sequence);
        }
        const batch = prepareBatch(head, drafts, now());
        const outcome = await backend.commit(operationId, {
          baseSequence: head.sequence,
          ...batch,
        });
        if (outcome === 'committed') return batch.envelopes;
        if (outcome === 'missing') throw new ExecutionNotFoundError(operationId);
        if (expectedSequence !== undefined || attempt >= MAX_COMMIT_ATTEMPTS) {
          const current = await readHeadOrThrow(operationId);
          throw new SequenceConflictError(expectedSequence ?? head.sequence, current.sequence);
        }
      }
    },

    async readHistory(operationId, historyOptions = {}) {
      const after = parseResumeCursor(historyOptions.after ?? null) ?? START_CURSOR;
      const limit = clampLimit(historyOptions.limit, HISTORY_LIMIT);
      await readHeadOrThrow(operationId);
      const [events, retention] = await Promise.all([
        backend.readAfter(operationId, after, limit + 1),
        backend.retention(operationId),
      ]);
      const more = events.length > limit;
      const page = more ? events.slice(0, limit) : events;
      return { events: page, nextCursor: more ? (page.at(-1)?.cursor ?? null) : null, retention };
    },

    async listExecutions(ownerId, listOptions = {}) {
      const limit = clampLimit(listOptions.limit, LIST_LIMIT);
      const { operationIds, nextCursor } = await backend.listExecutions(ownerId, {
        cursor: listOptions.cursor ?? null,
        limit,
      });
      // Heads only: a list never needs timelines. The index is the owner's own.
      const heads = await Promise.all(operationIds.map((id) => backend.readHead(id)));
      const items = heads.flatMap((head) => {
        if (!head) return []; // expired since the index was read
        const { operationId, type, status, createdAt, updatedAt, finishedAt } = head;
        return [{ operationId, type, status, createdAt, updatedAt, finishedAt }];
      });
      return { items, nextCursor };
    },

    listen: (operationId, listener) => feedOf(operationId).add(backend, listener),

    async subscribe(operationId, subscribeOptions = {}) {
      const cursor = parseResumeCursor(subscribeOptions.cursor ?? null);
      openSubscriptions++;
      const feed = feedOf(operationId);
      const subscription = new LiveSubscription({
        store,
        feed,
        maxQueued,
        pageSize,
        signal: subscribeOptions.signal,
        onClose: subscriptionClosed,
      });
      try {
        // Live first, then read: whatever commits after this point reaches the listener.
        await subscription.listen();
        const { start, head, firstPage } = await startPointFor(
          feed,
          cursor,
          subscribeOptions.ownerId,
        );
        subscription.begin(start, head, firstPage);
        return subscription;
      } catch (error) {
        subscription.close();
        throw error;
      }
    },

    acquireLease: (operationId, holder, ttlMs) => backend.acquireLease(operationId, holder, ttlMs),
    releaseLease: async (operationId, holder) => {
      if (await backend.releaseLease(operationId, holder)) waiters.wake();
    },
    listUnfinished: (listOptions = {}) =>
      backend.listUnfinished(clampLimit(listOptions.limit, LIST_LIMIT)),
    ping: () => backend.ping(),

    stats() {
      let listeners = 0;
      for (const feed of feeds.values()) listeners += feed.size;
      return { subscriptions: openSubscriptions, listeners };
    },

    ...producerMethods(backend, {
      create: (input) => service.create(input),
      now,
      waiters,
      listenClaimable,
    }),

    storeReads: () => storeReads,

    close,
    [Symbol.asyncDispose]: close,
  };
  return service;
}

/**
 * The status of the execution as of `last`, its latest event: a terminal status when `last` ends
 * it; otherwise a status that is not terminal (which one does not matter to a subscription).
 */
function statusAfter(last: Envelope): ExecutionHead['status'] {
  if (last.kind === 'execution.state_changed') return last.payload.to;
  return 'running';
}

/** @throws RangeError for tail limits that are not positive integers (linger: ≥ 0) */
function checkTailLimits(limits: Required<TailOptions>): Required<TailOptions> {
  if (!(Number.isInteger(limits.maxEvents) && limits.maxEvents >= 1)) {
    throw new RangeError(`tail.maxEvents must be a positive integer, got ${limits.maxEvents}`);
  }
  if (!(Number.isInteger(limits.maxBytes) && limits.maxBytes >= 1)) {
    throw new RangeError(`tail.maxBytes must be a positive integer, got ${limits.maxBytes}`);
  }
  if (!(Number.isFinite(limits.lingerMs) && limits.lingerMs >= 0)) {
    throw new RangeError(`tail.lingerMs must be 0 or more, got ${limits.lingerMs}`);
  }
  return limits;
}

/**
 * A reader's resume cursor as the service reads it: `null`/empty is no cursor; `0` and `0-0`
 * are from the start (`0-0`); anything else must be `<ms>-<seq>`. Checked without a store read,
 * so a surface may refuse a malformed cursor before spending anything on the request.
 * @throws CursorInvalidError
 */
export function parseResumeCursor(cursor: string | null): string | null {
  if (cursor === null || cursor === '') return null;
  if (cursor === '0' || cursor === START_CURSOR) return START_CURSOR;
  if (!CursorSchema.safeParse(cursor).success) throw new CursorInvalidError();
  return cursor;
}

function clampLimit(limit: number | undefined, bounds: { default: number; max: number }): number {
  if (limit === undefined) return bounds.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > bounds.max) {
    throw new InvalidInputError(`limit must be an integer from 1 to ${bounds.max}`);
  }
  return limit;
}
