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

/** A worker's hold on an execution (CONTRACT §12): its token fences the worker's appends. */
export interface Lease {
  /** Secret to the worker: it renews, releases and fences appends with it. */
  token: string;
  /** ISO 8601: when the lease ends unless renewed (the service's clock). */
  expiresAt: string;
}

export interface ClaimOptions {
  /** Only executions of these types. @default every type */
  types?: readonly ExecutionType[];
  /** How long the lease lasts without renewal, 1..600_000 ms. */
  leaseMs: number;
  /**
   * How long to wait for a claimable execution when there is none now (long poll), 0..30_000.
   * @default 0 (answer at once)
   */
  waitMs?: number;
  /** Aborting stops the wait; a claim already made is still returned. */
  signal?: AbortSignal;
}

/** A claimed execution: what the worker needs to run it from where its stream stands. */
export interface Claim {
  record: ExecutionRecord;
  head: ExecutionHead;
  lease: Lease;
}

export interface ProducerAppendOptions {
  /** As `AppendOptions.expectedSequence`: the batch lands only on this head. */
  expectedSequence?: number;
  /** When given, the batch lands only while this token holds the execution's lease. */
  leaseToken?: string;
  /**
   * The same key for the same execution within `IDEMPOTENCY_TTL_MS` answers the first
   * result and appends nothing. Printable ASCII, 1..255 characters.
   */
  idempotencyKey?: string;
}

/** Where a producer's batch left the execution. */
export interface AppendResult {
  sequence: number;
  cursor: Cursor;
  status: ExecutionStatus;
}

/** What a worker reads of an execution: its head, and whether someone holds it. */
export interface ProducerHead {
  record: ExecutionRecord;
  head: ExecutionHead;
  /** The current lease, `null` when free (never given, released, expired, or terminal). */
  lease: { expiresAt: string } | null;
}

/** The lease an execution's backend holds: its holder's token and when it ends (ms). */
export interface StoredLease {
  holder: string;
  expiresAtMs: number;
}

/** The fences a producer's commit carries; checked atomically with the sequence. */
export interface CommitFences {
  /** The batch lands only while this holder holds the lease. */
  leaseHolder?: string;
  /**
   * Remember `result` under `key` for `ttlMs`, in the same atomic step as the batch; a commit
   * whose key is already remembered stores nothing and answers `duplicate`.
   */
  idempotency?: { key: string; result: string; ttlMs: number };
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
  /**
   * The next events in order, as many as are at hand (a page of history, a slice of the tail,
   * the live events queued); `null` once the subscription has ended. What the iteration yields,
   * a batch at a time. Use one or the other. While detached, an empty batch at once.
   */
  nextBatch(): Promise<readonly Envelope[] | null>;
  /** The sequence of the last event handed out (a snapshot's, for a snapshot). */
  readonly lastSequence: number;
  /** The cursor of the last event handed out. */
  readonly lastCursor: string;
  /** Everything owed was handed out, and the subscription waits for live events. */
  readonly atLiveEdge: boolean;
  /**
   * At the live edge, stops listening while the caller hands the reader its live events by
   * itself (one broadcast to many readers); false, changing nothing, anywhere else. A
   * `nextBatch` waiting then returns an empty batch, and so does every call until `resumeAfter`.
   */
  detach(): boolean;
  /** After `detach`: the reader had everything up to `last`; catch up from there, then follow. */
  resumeAfter(last: { sequence: number; cursor: string }): void;
  /** After `detach`: the terminal event went out by the caller's hand; the iteration ends. */
  finish(): void;
}

export interface ExecutionStreamsStats {
  /** Subscriptions not yet ended. */
  subscriptions: number;
  /** Live listeners held for them (on the feeds of their executions). */
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
  /**
   * Live batches of one execution as this process hears them, in commit order, through the one
   * feed its subscriptions share; `onGap` when some may have been lost. Resolves once listening.
   */
  listen(operationId: OperationId, listener: LiveListener): Promise<() => void>;
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
  /**
   * The producer API's create (CONTRACT §12): `create` that, when the operation id exists,
   * returns it only if it was created with the same owner, type and params.
   * @throws ConflictError, TooManyExecutionsError, InvalidInputError
   */
  createOnce(
    input: CreateExecutionInput,
  ): Promise<{ record: ExecutionRecord; first: AppendResult; created: boolean }>;
  /**
   * Takes the lease of the oldest execution that is not terminal, whose lease is free or
   * expired and whose type is among `types`; `null` when none was found within `waitMs`.
   * Never two holders at once, across every process sharing the store.
   */
  claim(options: ClaimOptions): Promise<Claim | null>;
  /** Extends a lease the token holds now. @throws LeaseLostError */
  renewLease(operationId: OperationId, token: string, leaseMs: number): Promise<Lease>;
  /** Gives a lease up, so another worker may claim the execution at once. @throws LeaseLostError */
  release(operationId: OperationId, token: string): Promise<void>;
  /**
   * The producer API's append: `append`, fenced by the lease token, and idempotent by key.
   * `duplicate` is true when the key answered an earlier batch's result and nothing was stored.
   * @throws as `append`, and LeaseLostError
   */
  appendBatch(
    operationId: OperationId,
    drafts: unknown,
    options?: ProducerAppendOptions,
  ): Promise<{ result: AppendResult; envelopes: Envelope[]; duplicate: boolean }>;
  /** @throws ExecutionNotFoundError */
  readProducerHead(operationId: OperationId): Promise<ProducerHead>;
  /** True when the store answers. */
  ping(): Promise<boolean>;
  stats(): ExecutionStreamsStats;
  /**
   * Reads of the store made for subscriptions since the service opened (start points, replays,
   * catch-ups, resyncs): what the tail saves is what this does not count.
   */
  storeReads(): number;
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

/**
 * The result of a compare-and-set commit: `lease-lost` when a lease fence failed, `duplicate`
 * when its idempotency key was already remembered (nothing stored either way).
 */
export type CommitOutcome = 'committed' | 'conflict' | 'missing' | 'lease-lost' | 'duplicate';

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
  commit(
    operationId: OperationId,
    batch: CommitBatch,
    fences?: CommitFences,
  ): Promise<CommitOutcome>;
  /** The result remembered under an idempotency key of this execution, `null` when none. */
  readAppended(operationId: OperationId, key: string): Promise<string | null>;
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
  /**
   * Takes the lease if free, expired or the holder's own (then renews it), atomically; with
   * `renewOnly`, only extends a lease the holder holds now. False when not taken; always false
   * for a missing or terminal execution.
   */
  acquireLease(
    operationId: OperationId,
    holder: string,
    ttlMs: number,
    renewOnly?: boolean,
  ): Promise<boolean>;
  /** True when the holder held it and it is now free. */
  releaseLease(operationId: OperationId, holder: string): Promise<boolean>;
  /** The lease held now, `null` when none (or expired). */
  readLease(operationId: OperationId): Promise<StoredLease | null>;
  /**
   * Executions a claim may try, oldest first, at most `limit`: not terminal, lease free or
   * expired as far as the backend's index knows, type among `types` (all when null). A hint:
   * `acquireLease` decides.
   */
  claimCandidates(types: readonly ExecutionType[] | null, limit: number): Promise<OperationId[]>;
  /**
   * Calls `wake` whenever any process sharing the store may have made an execution claimable
   * (created one, released a lease), so claims waiting here look again at once. Absent on a
   * store that lives in one process: the service wakes its own claims.
   */
  listenClaimable?(wake: () => void): Promise<() => void>;
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
  /**
   * How often a claim waiting for work looks again (CONTRACT §12 long poll): what other processes
   * create or release, and leases that expire, are found this late at most. Creates and releases
   * in this process wake it at once.
   * @default 200
   */
  claimPollMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** The in-memory tail kept per execution with subscriptions in this process. */
  tail?: TailOptions;
}

/**
 * The last events of each execution that has subscriptions in this process, kept with their
 * serialised text, so that a resume whose cursor is among them, and a reader that fell behind by
 * no more than them, are served without reading the store. Bounded by count and by bytes,
 * whichever is reached first.
 */
export interface TailOptions {
  /** @default 512 */
  maxEvents?: number;
  /** Bytes of serialised envelopes (UTF-8). @default 262_144 (256 KiB) */
  maxBytes?: number;
  /**
   * How long an execution's tail (and its live subscription on the store) outlives its last
   * subscription, so that readers that drop and come back find it warm.
   * @default 5_000
   */
  lingerMs?: number;
}
