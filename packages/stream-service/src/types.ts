import type {
  Cursor,
  Envelope,
  EventDraft,
  ExecutionHead,
  ExecutionSnapshot,
  ExecutionStatus,
  ExecutionType,
  OperationId,
  TimelineEntry,
} from '@execstream/event-schema';

/** What is known of an execution besides its events: who owns it and what was asked. */
export interface ExecutionRecord {
  operationId: OperationId;
  ownerId: string;
  type: ExecutionType;
  /** The submitter's parameters, kept for the producer that runs the execution. */
  params: Record<string, unknown>;
  createdAt: string;
  idempotencyKey: string | null;
}

export interface CreateExecutionInput {
  ownerId: string;
  type: ExecutionType;
  /** @default {} */
  params?: Record<string, unknown>;
  /** The same key from the same owner returns the execution it first created. */
  idempotencyKey?: string | null;
  /** @default a new `op_<ULID>` */
  operationId?: OperationId;
  /**
   * How many executions of this owner may be not yet terminal at once, this one included. At
   * the limit, `create` throws `TooManyExecutionsError` and creates nothing, unless the
   * idempotency key (or operation id) names an existing execution, which is returned as always.
   * Counted in the store, so it holds across every process sharing it. An integer ≥ 1.
   * @default undefined (no limit)
   */
  maxUnfinished?: number;
}

export interface CreateExecutionResult {
  record: ExecutionRecord;
  snapshot: ExecutionSnapshot;
  /** False when an idempotency key (or the operation id) matched an existing execution. */
  created: boolean;
}

export interface AppendOptions {
  /**
   * The sequence the producer believes the stream is at. When given, the batch is stored only if
   * the stream's last sequence equals it; otherwise `SequenceConflictError` and nothing is stored.
   */
  expectedSequence?: number;
}

export interface RetentionInfo {
  /** The oldest retained event, `null` when none is retained. */
  firstCursor: Cursor | null;
  lastCursor: Cursor | null;
  /** How many events are retained. */
  length: number;
}

export interface HistoryPage {
  events: Envelope[];
  /** Pass as `after` to read the next page; `null` once the page reached the last event. */
  nextCursor: Cursor | null;
  retention: RetentionInfo;
}

export interface ExecutionSummary {
  operationId: OperationId;
  type: ExecutionType;
  status: ExecutionStatus;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface ExecutionListPage {
  items: ExecutionSummary[];
  /** Pass as `cursor` to read older executions; `null` when there are none. */
  nextCursor: string | null;
}

export interface SubscribeOptions {
  /** `null`/absent: snapshot then live. `0`/`0-0`: from the first retained event. */
  cursor?: string | null;
  /**
   * The caller: an execution of another owner is not found (CONTRACT §7), checked in the same
   * read that finds where the subscription starts.
   */
  ownerId?: string;
  /** Aborting ends the iteration and releases everything the subscription holds. */
  signal?: AbortSignal;
}

/**
 * A live read of one execution (CONTRACT §4), already checked: the execution exists and the
 * cursor is well-formed, so an HTTP layer can pick its status code before the first byte.
 */
export interface ExecutionSubscription extends AsyncIterable<Envelope> {
  /**
   * The execution is terminal and nothing follows the cursor: the iteration yields nothing.
   * The SSE route answers 204 so that EventSource stops reconnecting.
   */
  readonly nothingToSend: boolean;
  /**
   * The execution's sequence when the subscription opened. Events after it were appended since
   * (live); those up to it are history. A sequence, not a clock, so hosts' clocks cannot blur it.
   */
  readonly headSequence: number;
  /** Ends the iteration and releases the subscription, as aborting its signal does. */
  close(): void;
}

export interface ExecutionStreamsStats {
  /** Subscriptions not yet ended. */
  subscriptions: number;
  /** Live listeners the backend holds for them. */
  listeners: number;
}

/**
 * The one stream service under every surface. Producers create executions and append events;
 * the tRPC router and the SSE route read snapshots, history and subscriptions.
 */
export interface ExecutionStreams extends AsyncDisposable {
  create(input: CreateExecutionInput): Promise<CreateExecutionResult>;
  /** The record of an execution, `null` when it does not exist (or has expired). */
  getRecord(operationId: OperationId): Promise<ExecutionRecord | null>;
  /** @throws ExecutionNotFoundError */
  getSnapshot(operationId: OperationId): Promise<ExecutionSnapshot>;
  /**
   * Appends a batch atomically: every event or none.
   * @throws InvalidEventError, IllegalTransitionError, ExecutionTerminalError,
   *   SequenceConflictError, ExecutionNotFoundError, StoreUnavailableError
   */
  append(
    operationId: OperationId,
    drafts: EventDraft[],
    options?: AppendOptions,
  ): Promise<Envelope[]>;
  /** Retained events after `after` (exclusive), oldest first. @throws ExecutionNotFoundError */
  readHistory(
    operationId: OperationId,
    options?: { after?: Cursor | null; limit?: number },
  ): Promise<HistoryPage>;
  /** An owner's executions, newest first. */
  listExecutions(
    ownerId: string,
    options?: { cursor?: string | null; limit?: number },
  ): Promise<ExecutionListPage>;
  /** @throws ExecutionNotFoundError, CursorInvalidError */
  subscribe(operationId: OperationId, options?: SubscribeOptions): Promise<ExecutionSubscription>;
  /**
   * Takes or renews the lease that names which worker runs an execution. True when `holder` now
   * holds it; false when another holder's lease has not yet expired.
   */
  acquireLease(operationId: OperationId, holder: string, ttlMs: number): Promise<boolean>;
  releaseLease(operationId: OperationId, holder: string): Promise<void>;
  /** Executions not yet terminal, oldest first: what workers pick up after a crash. */
  listUnfinished(options?: { limit?: number }): Promise<OperationId[]>;
  /** True when the store answers. */
  ping(): Promise<boolean>;
  stats(): ExecutionStreamsStats;
  close(): Promise<void>;
}

/** Receives live batches of one execution, in commit order. */
export interface LiveListener {
  onEvents(envelopes: readonly Envelope[]): void;
  /**
   * Notifications may have been lost (a reconnect): the subscriber must catch up from the store
   * by cursor. Never loses an event, because the store is the source of truth.
   */
  onGap(): void;
}

export interface ExecutionState {
  record: ExecutionRecord;
  snapshot: ExecutionSnapshot;
}

/** One prepared batch: what `prepareBatch` returns, plus the sequence it extends. */
export interface CommitBatch {
  baseSequence: number;
  envelopes: Envelope[];
  head: ExecutionHead;
  timelineEntries: TimelineEntry[];
}

/** An owner's hold on one of its unfinished-execution slots; see `reserveUnfinished`. */
export interface UnfinishedReservation {
  operationId: OperationId;
  /** When it was taken (ms since the epoch, the service's clock). */
  reservedAtMs: number;
}

/** The result of a compare-and-set commit. */
export type CommitOutcome = 'committed' | 'conflict' | 'missing';

/**
 * Storage primitives a backend provides. `createStreamService` builds every rule of CONTRACT
 * §3–§4 on top of them once, so the memory and Redis backends cannot disagree on semantics.
 */
export interface StreamBackend {
  /**
   * Stores a new execution with its first event, or returns the existing one when the operation
   * id or the owner's idempotency key is already taken (then `created` is false).
   */
  createExecution(
    record: ExecutionRecord,
    first: Envelope,
    snapshot: ExecutionSnapshot,
  ): Promise<{ state: ExecutionState; created: boolean }>;
  readState(operationId: OperationId): Promise<ExecutionState | null>;
  /** The record alone, `null` when missing: what an owner check reads, in O(1). */
  readRecord(operationId: OperationId): Promise<ExecutionRecord | null>;
  /** The record and the head in one read, `null` when missing: what opening a stream reads. */
  readRecordAndHead(
    operationId: OperationId,
  ): Promise<{ record: ExecutionRecord; head: ExecutionHead } | null>;
  /** The snapshot without its timeline, `null` when missing: all an append reads, in O(1). */
  readHead(operationId: OperationId): Promise<ExecutionHead | null>;
  /**
   * Stores `envelopes`, the folded `head` and the `timelineEntries` they add, atomically, only if
   * the stream is still at `baseSequence`. Trims to the retention bound, notifies live listeners,
   * and once terminal sets the expiry and (after the commit) frees the owner's reservation.
   */
  commit(operationId: OperationId, batch: CommitBatch): Promise<CommitOutcome>;
  /** Retained events strictly after `after`, oldest first, at most `limit`. */
  readAfter(operationId: OperationId, after: Cursor, limit: number): Promise<Envelope[]>;
  /**
   * The retained event with this cursor and up to `limit - 1` events after it, oldest first;
   * empty when no retained event has this cursor. One read checks a client's cursor and fetches
   * the first page of its replay.
   */
  readFrom(operationId: OperationId, cursor: Cursor, limit: number): Promise<Envelope[]>;
  retention(operationId: OperationId): Promise<RetentionInfo>;
  /** Resolves once the listener is live: every commit after that reaches it (or an `onGap`). */
  listen(operationId: OperationId, listener: LiveListener): Promise<() => void>;
  listenerCount(): number;
  listExecutions(
    ownerId: string,
    options: { cursor: string | null; limit: number },
  ): Promise<{ operationIds: OperationId[]; nextCursor: string | null }>;
  acquireLease(operationId: OperationId, holder: string, ttlMs: number): Promise<boolean>;
  releaseLease(operationId: OperationId, holder: string): Promise<void>;
  listUnfinished(limit: number): Promise<OperationId[]>;
  /**
   * Takes a slot among the owner's unfinished executions for `operationId`, in one atomic step
   * across every process sharing the store: true when it holds one now (taken, or held already),
   * false when the owner holds `limit` reservations. With `limit` null it always takes one, so
   * executions created without a limit still count against a later call with one.
   */
  reserveUnfinished(
    ownerId: string,
    operationId: OperationId,
    limit: number | null,
    atMs: number,
  ): Promise<boolean>;
  /** Frees these reservations of the owner; ids it does not hold are ignored. */
  releaseUnfinished(ownerId: string, operationIds: readonly OperationId[]): Promise<void>;
  /** The owner's reservations, oldest first, at most `limit`. */
  listReservations(ownerId: string, limit: number): Promise<UnfinishedReservation[]>;
  /** The operation id the owner's idempotency key stands for, `null` when none. */
  findIdempotent(ownerId: string, idempotencyKey: string): Promise<OperationId | null>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StreamServiceOptions {
  /**
   * Live events a subscriber may have queued before it is switched to catching up from the store.
   * Bounds a slow reader's memory; it loses nothing, it re-reads by cursor.
   * @default 1024
   */
  maxQueuedEvents?: number;
  /**
   * Events read per page when replaying.
   * @default 500
   */
  replayPageSize?: number;
  /**
   * How often, at most, one owner's unfinished-execution reservations are pruned when it is at
   * its limit (each prune reads up to a thousand heads; see `unfinished-limit.ts`).
   * @default 5_000
   */
  pruneIntervalMs?: number;
  /** @default Date.now */
  now?: () => number;
}
