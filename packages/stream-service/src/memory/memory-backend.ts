import {
  assembleSnapshot,
  type Cursor,
  type Envelope,
  type ExecutionHead,
  type ExecutionSnapshot,
  type ExecutionType,
  isTerminalStatus,
  type OperationId,
  splitSnapshot,
  type TimelineEntry,
} from '@execstream/event-schema';
import { InvalidInputError } from '../errors.ts';
import type {
  CommitBatch,
  CommitFences,
  CommitOutcome,
  ExecutionRecord,
  ExecutionState,
  LiveListener,
  RetentionInfo,
  StoredLease,
  StreamBackend,
  UnfinishedReservation,
} from '../types.ts';
import { RetainedEvents } from './retained-events.ts';

export interface MemoryBackendOptions {
  /**
   * Events kept per execution; older ones are trimmed (readers resync from a snapshot).
   * @default 10_000
   */
  maxEventsPerStream?: number;
  /**
   * How long a terminal execution is kept before it expires entirely.
   * @default 86_400_000 (24 hours)
   */
  terminalTtlMs?: number;
  /**
   * How often expired executions are swept from memory. Reads never see them either way.
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /** @default Date.now */
  now?: () => number;
}

interface StoredExecution {
  record: ExecutionRecord;
  /** Replaced whole on every commit, never mutated: a head handed out stays as it was. */
  head: ExecutionHead;
  /** Appended in place; readers get a copy. */
  timeline: TimelineEntry[];
  /** Retained events, oldest first; contiguous in `sequence`. */
  events: RetainedEvents;
  expiresAt: number | null;
  lease: { holder: string; expiresAt: number } | null;
  /**
   * Results of producers' appends by idempotency key, oldest first, each until it expires; at
   * most `maxEventsPerStream` (every one stands for a batch of at least one event).
   */
  appended: Map<string, { result: string; expiresAt: number }>;
}

/**
 * The embedded store: everything in this process's memory, nothing to install. It is the
 * zero-setup default of `pnpm start` and passes the same conformance suite as Redis; it is not
 * shared between processes and does not survive a restart.
 */
export class MemoryBackend implements StreamBackend {
  readonly #maxEvents: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #executions = new Map<OperationId, StoredExecution>();
  readonly #idempotency = new Map<string, OperationId>();
  /** Each owner's executions in creation order. */
  readonly #byOwner = new Map<string, OperationId[]>();
  /** Executions not yet terminal, in creation order: what workers poll, without a full scan. */
  readonly #unfinished = new Set<OperationId>();
  /** Each owner's reservations of unfinished-execution slots: operation id → reserved at (ms). */
  readonly #reservations = new Map<string, Map<OperationId, number>>();
  readonly #listeners = new Map<OperationId, Set<LiveListener>>();
  #listenerCount = 0;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryBackendOptions = {}) {
    this.#maxEvents = options.maxEventsPerStream ?? 10_000;
    this.#ttlMs = options.terminalTtlMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#maxEvents) || this.#maxEvents < 1) {
      throw new InvalidInputError('maxEventsPerStream must be a positive integer');
    }
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 60_000);
    this.#sweeper.unref();
  }

  async createExecution(record: ExecutionRecord, first: Envelope, snapshot: ExecutionSnapshot) {
    const existingId =
      record.idempotencyKey === null
        ? record.operationId
        : (this.#idempotency.get(idempotencyIndexKey(record.ownerId, record.idempotencyKey)) ??
          record.operationId);
    const existing = this.#get(existingId);
    if (existing) return { state: stateOf(existing), created: false };

    const { head, timeline } = splitSnapshot(snapshot);
    this.#executions.set(record.operationId, {
      record,
      head,
      timeline: [...timeline],
      events: new RetainedEvents(first),
      expiresAt: null,
      lease: null,
      appended: new Map(),
    });
    if (!isTerminalStatus(head.status)) this.#unfinished.add(record.operationId);
    if (record.idempotencyKey !== null) {
      this.#idempotency.set(
        idempotencyIndexKey(record.ownerId, record.idempotencyKey),
        record.operationId,
      );
    }
    const owned = this.#byOwner.get(record.ownerId) ?? [];
    owned.push(record.operationId);
    this.#byOwner.set(record.ownerId, owned);
    return { state: { record, snapshot }, created: true };
  }

  async readState(operationId: OperationId): Promise<ExecutionState | null> {
    const stored = this.#get(operationId);
    return stored ? stateOf(stored) : null;
  }

  async readRecord(operationId: OperationId): Promise<ExecutionRecord | null> {
    return this.#get(operationId)?.record ?? null;
  }

  async readRecordAndHead(
    operationId: OperationId,
  ): Promise<{ record: ExecutionRecord; head: ExecutionHead } | null> {
    const [record, head] = await Promise.all([
      this.readRecord(operationId),
      this.readHead(operationId),
    ]);
    return record && head ? { record, head } : null;
  }

  async readHead(operationId: OperationId): Promise<ExecutionHead | null> {
    return this.#get(operationId)?.head ?? null;
  }

  async commit(
    operationId: OperationId,
    batch: CommitBatch,
    fences: CommitFences = {},
  ): Promise<CommitOutcome> {
    const stored = this.#get(operationId);
    if (!stored) return 'missing';
    const { idempotency, leaseHolder } = fences;
    if (idempotency && this.#appendedResult(stored, idempotency.key) !== null) return 'duplicate';
    // Terminal before the lease: an end clears the lease, and the caller must learn of the end.
    if (isTerminalStatus(stored.head.status)) return 'conflict';
    if (leaseHolder !== undefined && this.#leaseOf(stored)?.holder !== leaseHolder) {
      return 'lease-lost';
    }
    if (stored.head.sequence !== batch.baseSequence) return 'conflict';
    if (idempotency) {
      stored.appended.set(idempotency.key, {
        result: idempotency.result,
        expiresAt: this.#now() + idempotency.ttlMs,
      });
      if (stored.appended.size > this.#maxEvents) {
        stored.appended.delete(stored.appended.keys().next().value as string);
      }
    }
    stored.events.append(batch.envelopes, this.#maxEvents);
    stored.head = batch.head;
    stored.timeline.push(...batch.timelineEntries);
    if (isTerminalStatus(batch.head.status)) {
      stored.expiresAt = this.#now() + this.#ttlMs;
      stored.lease = null;
      this.#unfinished.delete(operationId);
      this.#release(stored.record.ownerId, operationId);
    }
    const listeners = this.#listeners.get(operationId);
    if (listeners) for (const listener of [...listeners]) listener.onEvents(batch.envelopes);
    return 'committed';
  }

  async readAppended(operationId: OperationId, key: string): Promise<string | null> {
    const stored = this.#get(operationId);
    return stored ? this.#appendedResult(stored, key) : null;
  }

  async readAfter(operationId: OperationId, after: Cursor, limit: number): Promise<Envelope[]> {
    return this.#get(operationId)?.events.after(after, limit) ?? [];
  }

  async readFrom(operationId: OperationId, cursor: Cursor, limit: number): Promise<Envelope[]> {
    const events = this.#get(operationId)?.events;
    const first = events?.at(cursor);
    if (!events || !first) return [];
    return [first, ...events.after(cursor, limit - 1)];
  }

  async retention(operationId: OperationId): Promise<RetentionInfo> {
    const events = this.#get(operationId)?.events;
    return {
      firstCursor: events?.first?.cursor ?? null,
      lastCursor: events?.last?.cursor ?? null,
      length: events?.length ?? 0,
    };
  }

  async listen(operationId: OperationId, listener: LiveListener): Promise<() => void> {
    let listeners = this.#listeners.get(operationId);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(operationId, listeners);
    }
    listeners.add(listener);
    this.#listenerCount++;
    let listening = true;
    return () => {
      if (!listening) return;
      listening = false;
      this.#listenerCount--;
      listeners.delete(listener);
      if (listeners.size === 0) this.#listeners.delete(operationId);
    };
  }

  listenerCount(): number {
    return this.#listenerCount;
  }

  async listExecutions(ownerId: string, options: { cursor: string | null; limit: number }) {
    const owned = this.#byOwner.get(ownerId) ?? [];
    // The cursor is the position (in creation order) of the last execution already returned.
    let end = owned.length;
    if (options.cursor !== null) {
      if (!/^\d{1,15}$/.test(options.cursor))
        throw new InvalidInputError('list cursor is malformed');
      end = Math.min(Number(options.cursor), owned.length);
    }
    const operationIds: OperationId[] = [];
    let position = end;
    while (position > 0 && operationIds.length < options.limit) {
      position--;
      const id = owned[position] as OperationId;
      if (this.#get(id)) operationIds.push(id);
    }
    return { operationIds, nextCursor: position > 0 ? String(position) : null };
  }

  async acquireLease(
    operationId: OperationId,
    holder: string,
    ttlMs: number,
    renewOnly = false,
  ): Promise<boolean> {
    const stored = this.#get(operationId);
    if (!stored || isTerminalStatus(stored.head.status)) return false;
    const current = this.#leaseOf(stored);
    if (renewOnly ? current?.holder !== holder : current && current.holder !== holder) {
      return false;
    }
    stored.lease = { holder, expiresAt: this.#now() + ttlMs };
    return true;
  }

  async releaseLease(operationId: OperationId, holder: string): Promise<boolean> {
    const stored = this.#get(operationId);
    if (!stored || this.#leaseOf(stored)?.holder !== holder) return false;
    stored.lease = null;
    return true;
  }

  async readLease(operationId: OperationId): Promise<StoredLease | null> {
    const stored = this.#get(operationId);
    const lease = stored ? this.#leaseOf(stored) : null;
    return lease ? { holder: lease.holder, expiresAtMs: lease.expiresAt } : null;
  }

  async claimCandidates(
    types: readonly ExecutionType[] | null,
    limit: number,
  ): Promise<OperationId[]> {
    const candidates: OperationId[] = [];
    for (const operationId of this.#unfinished) {
      if (candidates.length >= limit) break;
      const stored = this.#get(operationId);
      if (!stored || this.#leaseOf(stored)) continue;
      if (types === null || types.includes(stored.record.type)) candidates.push(operationId);
    }
    return candidates;
  }

  async listUnfinished(limit: number): Promise<OperationId[]> {
    const unfinished: OperationId[] = [];
    for (const operationId of this.#unfinished) {
      if (unfinished.length >= limit) break;
      unfinished.push(operationId);
    }
    return unfinished;
  }

  async reserveUnfinished(
    ownerId: string,
    operationId: OperationId,
    limit: number | null,
    atMs: number,
  ): Promise<boolean> {
    const held = this.#reservations.get(ownerId) ?? new Map<OperationId, number>();
    if (held.has(operationId)) return true;
    if (limit !== null && held.size >= limit) return false;
    held.set(operationId, atMs);
    this.#reservations.set(ownerId, held);
    return true;
  }

  async releaseUnfinished(ownerId: string, operationIds: readonly OperationId[]): Promise<void> {
    for (const operationId of operationIds) this.#release(ownerId, operationId);
  }

  async listReservations(ownerId: string, limit: number): Promise<UnfinishedReservation[]> {
    const held = [...(this.#reservations.get(ownerId) ?? [])];
    return held
      .map(([operationId, reservedAtMs]) => ({ operationId, reservedAtMs }))
      .sort((a, b) => a.reservedAtMs - b.reservedAtMs)
      .slice(0, limit);
  }

  async findIdempotent(ownerId: string, idempotencyKey: string): Promise<OperationId | null> {
    return this.#idempotency.get(idempotencyIndexKey(ownerId, idempotencyKey)) ?? null;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    for (const listeners of this.#listeners.values()) listeners.clear();
    this.#listeners.clear();
    this.#listenerCount = 0;
  }

  #get(operationId: OperationId): StoredExecution | undefined {
    const stored = this.#executions.get(operationId);
    if (stored && stored.expiresAt !== null && stored.expiresAt <= this.#now()) {
      this.#forget(operationId, stored);
      return undefined;
    }
    return stored;
  }

  /** The lease in force, `null` when none or expired. */
  #leaseOf(stored: StoredExecution): { holder: string; expiresAt: number } | null {
    return stored.lease && stored.lease.expiresAt > this.#now() ? stored.lease : null;
  }

  #appendedResult(stored: StoredExecution, key: string): string | null {
    const entry = stored.appended.get(key);
    if (!entry) return null;
    if (entry.expiresAt > this.#now()) return entry.result;
    stored.appended.delete(key);
    return null;
  }

  #release(ownerId: string, operationId: OperationId): void {
    const held = this.#reservations.get(ownerId);
    held?.delete(operationId);
    if (held?.size === 0) this.#reservations.delete(ownerId);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [operationId, stored] of this.#executions) {
      if (stored.expiresAt !== null && stored.expiresAt <= now) this.#forget(operationId, stored);
    }
  }

  #forget(operationId: OperationId, stored: StoredExecution): void {
    this.#executions.delete(operationId);
    const { ownerId, idempotencyKey } = stored.record;
    if (idempotencyKey !== null)
      this.#idempotency.delete(idempotencyIndexKey(ownerId, idempotencyKey));
    // The id stays in its owner's list: positions there are list cursors, and `listExecutions`
    // skips ids that no longer resolve. One string per expired execution is the price.
  }
}

function stateOf(stored: StoredExecution): ExecutionState {
  return {
    record: stored.record,
    snapshot: assembleSnapshot(stored.head, stored.timeline.slice()),
  };
}

function idempotencyIndexKey(ownerId: string, key: string): string {
  return `${ownerId}\u0000${key}`;
}
