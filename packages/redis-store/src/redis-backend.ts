import {
  assembleSnapshot,
  type Cursor,
  type Envelope,
  type ExecutionHead,
  type ExecutionSnapshot,
  type ExecutionType,
  envelopeText,
  isTerminalStatus,
  makeEnvelope,
  type OperationId,
  parseCursor,
  splitSnapshot,
  streamIdOf,
  type TimelineEntry,
} from '@execstream/event-schema';
import {
  type CommitBatch,
  type CommitFences,
  type CommitOutcome,
  type ExecutionRecord,
  type ExecutionState,
  InvalidInputError,
  type LiveListener,
  type RetentionInfo,
  type StoredLease,
  type StreamBackend,
  type UnfinishedReservation,
} from '@execstream/stream-service';
import { type ConnectOptions, connectRedis, type RedisClient, waitUntilReady } from './connect.ts';
import { storeCall } from './errors.ts';
import { RedisKeys } from './keys.ts';
import { LiveHub } from './live-hub.ts';
import { parseEnvelope } from './parse.ts';
import {
  interpretCommit,
  interpretLease,
  interpretReserve,
  runScript,
  SCRIPTS,
} from './scripts.ts';

export interface RedisBackendOptions extends ConnectOptions {
  /**
   * Where Redis is: `redis://host:port`, `rediss://…`, or a cluster as
   * `redis+cluster://host:port,host:port` (see `parseRedisUrl`).
   */
  url: string;
  /**
   * Prefix of every key, so several deployments (or test runs) can share one Redis.
   * @default 'es'
   */
  keyPrefix?: string;
  /**
   * Events kept per execution; older ones are trimmed (readers resync from a snapshot).
   * @default 10_000
   */
  maxEventsPerStream?: number;
  /**
   * How long a terminal execution is kept before all its keys expire.
   * @default 86_400_000 (24 hours)
   */
  terminalTtlMs?: number;
  /** @default Date.now */
  now?: () => number;
  /**
   * Told about every connection error (refused, reset, timed out), e.g. to log it. They need no
   * handling: commands fail with `StoreUnavailableError` meanwhile and connections come back.
   * @default ignore them
   */
  onConnectionError?: (error: Error) => void;
}

/**
 * How long an entry of the unfinished index may point at an execution that does not exist before
 * it is dropped: longer than any creation takes between indexing it and storing it, so an
 * execution being created right now is never dropped from the index workers recover from.
 */
const UNFINISHED_GRACE_MS = 60_000;
const SCAN_PAGE = 100;

/**
 * The Redis Streams backend: each execution is a stream whose entry ids are the cursors, plus a
 * hash with its record and materialised snapshot, all changed together by one Lua script per
 * batch. See docs/redis.md for the key layout, the scripts and the connection model.
 */
export class RedisBackend implements StreamBackend {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #hub: LiveHub;
  readonly #maxEvents: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #closed = false;

  private constructor(client: RedisClient, options: RedisBackendOptions) {
    this.#client = client;
    this.#keys = new RedisKeys(options.keyPrefix ?? 'es');
    this.#hub = new LiveHub(client, options);
    this.#maxEvents = options.maxEventsPerStream ?? 10_000;
    this.#ttlMs = options.terminalTtlMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
  }

  /** Connects and resolves once Redis takes commands (`StoreUnavailableError` if it does not). */
  static async connect(options: RedisBackendOptions): Promise<RedisBackend> {
    const maxEvents = options.maxEventsPerStream ?? 10_000;
    if (!Number.isInteger(maxEvents) || maxEvents < 1) {
      throw new InvalidInputError('maxEventsPerStream must be a positive integer');
    }
    const client = connectRedis(options.url, options);
    // Without a listener, ioredis reports every connection error as unhandled.
    client.on('error', options.onConnectionError ?? (() => {}));
    // Inside the try: a bad key prefix throws from the constructor, and must close the client too.
    let backend: RedisBackend;
    try {
      backend = new RedisBackend(client, options);
      await waitUntilReady(client, options.connectTimeoutMs ?? 5_000);
    } catch (error) {
      client.disconnect();
      throw error;
    }
    return backend;
  }

  /** The command connection(s); for tests and benchmarks that inspect Redis. */
  get client(): RedisClient {
    return this.#client;
  }

  get keys(): RedisKeys {
    return this.#keys;
  }

  /**
   * Three steps in three hash slots, each idempotent, in an order that a crash between any two
   * never loses or corrupts anything (docs/redis.md, "Creating an execution"):
   * 1. claim.lua on the owner: the idempotency claim and the owner's index;
   * 2. the unfinished index;
   * 3. create.lua on the execution: its state and first event, or the existing ones.
   * A crash after 1 or 2 leaves index entries that readers skip, and a retry with the same
   * idempotency key gets the claimed id back and completes that execution's creation.
   */
  async createExecution(
    record: ExecutionRecord,
    first: Envelope,
    snapshot: ExecutionSnapshot,
  ): Promise<{ state: ExecutionState; created: boolean }> {
    // Serialised before the first write: a record that cannot be stored must leave nothing.
    const recordJson = JSON.stringify(record);
    const owner = this.#keys.owner(record.ownerId);
    const claimKeys = [owner.executions, owner.counter];
    if (record.idempotencyKey !== null) {
      claimKeys.push(this.#keys.idempotency(record.ownerId, record.idempotencyKey));
    }
    const claimed = String(
      await storeCall(() =>
        runScript(this.#client, SCRIPTS.claim, claimKeys, [record.operationId]),
      ),
    ) as OperationId;
    let target = { record, first, snapshot };
    if (claimed !== record.operationId) {
      const existing = await this.readState(claimed);
      if (existing) return { state: existing, created: false };
      // The key's first request crashed before creating its execution: finish that one.
      target = retarget(claimed, record, first, snapshot);
    }
    const createdAtMs = Date.parse(target.record.createdAt);
    const indexes = this.#keys.claimIndexes();
    // One slot: the type goes in with the index entry, for claims by type.
    await storeCall(() =>
      this.#client
        .multi()
        .zadd(indexes.unfinished, 'NX', createdAtMs, target.record.operationId)
        .hset(indexes.types, target.record.operationId, target.record.type)
        .exec(),
    );
    const keys = this.#keys.execution(target.record.operationId);
    const created = splitSnapshot(target.snapshot);
    const reply = (await storeCall(() =>
      runScript(
        this.#client,
        SCRIPTS.create,
        [keys.state, keys.events, keys.timeline],
        [
          target.record === record ? recordJson : JSON.stringify(target.record),
          JSON.stringify(created.head),
          created.head.sequence,
          isTerminalStatus(created.head.status) ? '1' : '0',
          target.record.ownerId,
          target.first.cursor,
          envelopeText(target.first),
          ...created.timeline.map((entry) => JSON.stringify(entry)),
        ],
      ),
    )) as [number, ...string[]];
    if (reply[0] === 1) {
      await this.#wakeClaims();
      return { state: { record: target.record, snapshot: target.snapshot }, created: true };
    }
    return { state: parseState(reply.slice(1) as string[]), created: false };
  }

  async readState(operationId: OperationId): Promise<ExecutionState | null> {
    const keys = this.#keys.execution(operationId);
    const reply = (await storeCall(() =>
      runScript(this.#client, SCRIPTS.readState, [keys.state, keys.timeline], []),
    )) as string[];
    return reply.length === 0 ? null : parseState(reply);
  }

  async readRecord(operationId: OperationId): Promise<ExecutionRecord | null> {
    const { state } = this.#keys.execution(operationId);
    const record = await storeCall(() => this.#client.hget(state, 'record'));
    return record === null ? null : (JSON.parse(record) as ExecutionRecord);
  }

  async readRecordAndHead(
    operationId: OperationId,
  ): Promise<{ record: ExecutionRecord; head: ExecutionHead } | null> {
    const { state } = this.#keys.execution(operationId);
    const [record, head] = await storeCall(() => this.#client.hmget(state, 'record', 'head'));
    if (!record || !head) return null;
    return {
      record: JSON.parse(record) as ExecutionRecord,
      head: JSON.parse(head) as ExecutionHead,
    };
  }

  async readHead(operationId: OperationId): Promise<ExecutionHead | null> {
    const { state } = this.#keys.execution(operationId);
    const head = await storeCall(() => this.#client.hget(state, 'head'));
    return head === null ? null : (JSON.parse(head) as ExecutionHead);
  }

  async commit(
    operationId: OperationId,
    batch: CommitBatch,
    fences: CommitFences = {},
  ): Promise<CommitOutcome> {
    const keys = this.#keys.execution(operationId);
    const terminal = isTerminalStatus(batch.head.status);
    const events: string[] = [];
    for (const envelope of batch.envelopes) events.push(envelope.cursor, envelopeText(envelope));
    const { idempotency } = fences;
    const scriptKeys = [keys.state, keys.events, keys.timeline, keys.lease];
    if (idempotency) scriptKeys.push(this.#keys.appended(operationId, idempotency.key));
    const reply = interpretCommit(
      await storeCall(() =>
        runScript(this.#client, SCRIPTS.commit, scriptKeys, [
          batch.baseSequence,
          batch.head.sequence,
          terminal ? '1' : '0',
          JSON.stringify(batch.head),
          this.#maxEvents,
          this.#ttlMs,
          keys.channel,
          batch.envelopes.length,
          fences.leaseHolder ?? '',
          idempotency?.result ?? '',
          idempotency?.ttlMs ?? 0,
          ...events,
          ...batch.timelineEntries.map((entry) => JSON.stringify(entry)),
        ]),
      ),
    );
    if (reply.outcome === 'committed' && reply.terminalRecord !== null) {
      await this.#afterTerminal(operationId, JSON.parse(reply.terminalRecord) as ExecutionRecord);
    }
    return reply.outcome;
  }

  async readAppended(operationId: OperationId, key: string): Promise<string | null> {
    return storeCall(() => this.#client.get(this.#keys.appended(operationId, key)));
  }

  async readAfter(operationId: OperationId, after: Cursor, limit: number): Promise<Envelope[]> {
    // Nothing can follow the largest id, and Redis rejects an exclusive range starting there.
    if (isLastPossibleId(after)) return [];
    const { events } = this.#keys.execution(operationId);
    const entries = await storeCall(() =>
      this.#client.xrange(events, `(${after}`, '+', 'COUNT', limit),
    );
    return entries.map(parseEntry);
  }

  async readFrom(operationId: OperationId, cursor: Cursor, limit: number): Promise<Envelope[]> {
    const { events } = this.#keys.execution(operationId);
    const entries = await storeCall(() => this.#client.xrange(events, cursor, '+', 'COUNT', limit));
    // The range starts at the first id at or after the cursor: the cursor's own, or none.
    return entries[0]?.[0] === cursor ? entries.map(parseEntry) : [];
  }

  async retention(operationId: OperationId): Promise<RetentionInfo> {
    const { events } = this.#keys.execution(operationId);
    // One transaction, so that a trim in between cannot pair a length with another first entry.
    const results = await storeCall(() =>
      this.#client
        .multi()
        .xlen(events)
        .xrange(events, '-', '+', 'COUNT', 1)
        .xrevrange(events, '+', '-', 'COUNT', 1)
        .exec(),
    );
    const [length, first, last] = (results ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [number, [string, string[]][], [string, string[]][]];
    return { firstCursor: first[0]?.[0] ?? null, lastCursor: last[0]?.[0] ?? null, length };
  }

  listen(operationId: OperationId, listener: LiveListener): Promise<() => void> {
    return this.#hub.listen(this.#keys.execution(operationId).channel, listener);
  }

  listenerCount(): number {
    return this.#hub.listenerCount();
  }

  async listExecutions(
    ownerId: string,
    options: { cursor: string | null; limit: number },
  ): Promise<{ operationIds: OperationId[]; nextCursor: string | null }> {
    // The cursor is the creation-order number of the last execution already returned.
    if (options.cursor !== null && !/^\d{1,15}$/.test(options.cursor)) {
      throw new InvalidInputError('list cursor is malformed');
    }
    const { executions } = this.#keys.owner(ownerId);
    const operationIds: OperationId[] = [];
    let below = options.cursor === null ? '+inf' : `(${options.cursor}`;
    let lastScore: string | null = null;
    while (operationIds.length < options.limit) {
      const page = await storeCall(() =>
        this.#client.zrevrangebyscore(
          executions,
          below,
          '-inf',
          'WITHSCORES',
          'LIMIT',
          0,
          SCAN_PAGE,
        ),
      );
      if (page.length === 0) return { operationIds, nextCursor: null };
      const ids = page.filter((_, index) => index % 2 === 0) as OperationId[];
      // Entries whose execution expired (or was never created) are skipped, as in memory.
      const owners = await Promise.all(
        ids.map((id) =>
          storeCall(() => this.#client.hget(this.#keys.execution(id).state, 'owner')),
        ),
      );
      for (const [index, id] of ids.entries()) {
        lastScore = page[index * 2 + 1] as string;
        if (owners[index] === ownerId) operationIds.push(id);
        if (operationIds.length === options.limit) break;
      }
      below = `(${lastScore}`;
    }
    const older = await storeCall(() => this.#client.zcount(executions, '-inf', below));
    return { operationIds, nextCursor: older > 0 ? lastScore : null };
  }

  /**
   * The lease itself in the execution's slot, then (another slot) the lease index claims read,
   * so a claim skips it. A crash between the two leaves the index behind: claims then try a
   * leased execution, fail to take it, and look further; nothing is ever held twice.
   */
  async acquireLease(
    operationId: OperationId,
    holder: string,
    ttlMs: number,
    renewOnly = false,
  ): Promise<boolean> {
    const keys = this.#keys.execution(operationId);
    const expiresAtMs = this.#now() + ttlMs;
    const reply = await storeCall(() =>
      runScript(
        this.#client,
        SCRIPTS.acquireLease,
        [keys.state, keys.lease],
        [holder, ttlMs, renewOnly ? 'renew' : ''],
      ),
    );
    const outcome = interpretLease(reply);
    // An ended or missing run still in the indexes (its bookkeeping after the end was cut
    // short): tidied here, so claims do not keep trying it.
    if (outcome === 'ended') await this.#tidyUnfinished([operationId]);
    if (outcome !== 'taken') return false;
    await storeCall(() =>
      this.#client.zadd(this.#keys.claimIndexes().leases, expiresAtMs, operationId),
    );
    return true;
  }

  async releaseLease(operationId: OperationId, holder: string): Promise<boolean> {
    const { lease } = this.#keys.execution(operationId);
    const reply = await storeCall(() =>
      runScript(this.#client, SCRIPTS.releaseLease, [lease], [holder]),
    );
    if (reply !== 1) return false;
    await storeCall(() => this.#client.zrem(this.#keys.claimIndexes().leases, operationId));
    await this.#wakeClaims();
    return true;
  }

  listenClaimable(wake: () => void): Promise<() => void> {
    return this.#hub.listen(this.#keys.claimIndexes().claimable, {
      onEvents: wake,
      // Wake-ups may have been missed while reconnecting: look again.
      onGap: wake,
    });
  }

  /**
   * Tells every process's waiting claims that a run may have become claimable. Best effort: a
   * claim that misses it finds the run at its next poll.
   */
  async #wakeClaims(): Promise<void> {
    await this.#client.spublish(this.#keys.claimIndexes().claimable, '').catch(() => {});
  }

  async readLease(operationId: OperationId): Promise<StoredLease | null> {
    const { lease } = this.#keys.execution(operationId);
    const results = await storeCall(() => this.#client.multi().get(lease).pttl(lease).exec());
    const [[, holder], [, ttl]] = (results ?? [
      [null, null],
      [null, -2],
    ]) as [[Error | null, string | null], [Error | null, number]];
    if (holder === null || ttl < 0) return null;
    return { holder, expiresAtMs: this.#now() + ttl };
  }

  async claimCandidates(
    types: readonly ExecutionType[] | null,
    limit: number,
  ): Promise<OperationId[]> {
    const { unfinished, leases, types: typeIndex } = this.#keys.claimIndexes();
    const reply = await storeCall(() =>
      runScript(
        this.#client,
        SCRIPTS.claimCandidates,
        [unfinished, leases, typeIndex],
        [this.#now(), limit, ...(types ?? [])],
      ),
    );
    return reply as OperationId[];
  }

  /**
   * Oldest first. Entries of executions that ended are removed on the way (finishing what
   * `#afterTerminal` may not have done), and so are entries whose execution has been missing for
   * longer than any creation takes.
   */
  async listUnfinished(limit: number): Promise<OperationId[]> {
    const index = this.#keys.unfinished();
    const unfinished: OperationId[] = [];
    const ended: OperationId[] = [];
    for (let offset = 0; unfinished.length < limit; offset += SCAN_PAGE) {
      const page = await storeCall(() =>
        this.#client.zrange(index, offset, offset + SCAN_PAGE - 1, 'WITHSCORES'),
      );
      if (page.length === 0) break;
      const ids = page.filter((_, position) => position % 2 === 0) as OperationId[];
      const terminal = await Promise.all(
        ids.map((id) =>
          storeCall(() => this.#client.hget(this.#keys.execution(id).state, 'terminal')),
        ),
      );
      for (const [position, id] of ids.entries()) {
        if (terminal[position] !== '0') ended.push(id);
        else if (unfinished.length < limit) unfinished.push(id);
      }
    }
    await this.#tidyUnfinished(ended);
    return unfinished;
  }

  /**
   * Index entries of executions that are not running: those that ended get the bookkeeping of
   * `#afterTerminal`; those missing for longer than any creation takes (never created, or
   * expired) leave the indexes. An execution being created right now is left alone.
   */
  async #tidyUnfinished(ids: readonly OperationId[]): Promise<void> {
    if (ids.length === 0) return;
    const index = this.#keys.unfinished();
    const states = await Promise.all(
      ids.map((id) =>
        storeCall(() => this.#client.hmget(this.#keys.execution(id).state, 'terminal', 'record')),
      ),
    );
    const scores = await Promise.all(
      ids.map((id) => storeCall(() => this.#client.zscore(index, id))),
    );
    const finished: ExecutionRecord[] = [];
    const stale: OperationId[] = [];
    for (const [position, id] of ids.entries()) {
      const [terminal, record] = states[position] as [string | null, string | null];
      const indexedAt = scores[position];
      if (terminal === '1' && record !== null) {
        finished.push(JSON.parse(record) as ExecutionRecord);
      } else if (
        terminal === null &&
        indexedAt != null &&
        this.#now() - Number(indexedAt) > UNFINISHED_GRACE_MS
      ) {
        stale.push(id);
      }
    }
    await Promise.all(finished.map((record) => this.#afterTerminal(record.operationId, record)));
    if (stale.length > 0) {
      const { leases, types } = this.#keys.claimIndexes();
      await storeCall(() =>
        this.#client
          .multi()
          .zrem(leases, ...stale)
          .hdel(types, ...stale)
          .zrem(index, ...stale)
          .exec(),
      );
    }
  }

  async reserveUnfinished(
    ownerId: string,
    operationId: OperationId,
    limit: number | null,
    atMs: number,
  ): Promise<boolean> {
    const { unfinished } = this.#keys.owner(ownerId);
    const reply = await storeCall(() =>
      runScript(
        this.#client,
        SCRIPTS.reserve,
        [unfinished],
        [operationId, limit === null ? '' : limit, atMs],
      ),
    );
    return interpretReserve(reply);
  }

  async releaseUnfinished(ownerId: string, operationIds: readonly OperationId[]): Promise<void> {
    if (operationIds.length === 0) return;
    const { unfinished } = this.#keys.owner(ownerId);
    await storeCall(() => this.#client.zrem(unfinished, ...operationIds));
  }

  async listReservations(ownerId: string, limit: number): Promise<UnfinishedReservation[]> {
    const { unfinished } = this.#keys.owner(ownerId);
    const page = await storeCall(() => this.#client.zrange(unfinished, 0, limit - 1, 'WITHSCORES'));
    const reservations: UnfinishedReservation[] = [];
    for (let index = 0; index < page.length; index += 2) {
      reservations.push({
        operationId: page[index] as OperationId,
        reservedAtMs: Number(page[index + 1]),
      });
    }
    return reservations;
  }

  async findIdempotent(ownerId: string, idempotencyKey: string): Promise<OperationId | null> {
    const claim = this.#keys.idempotency(ownerId, idempotencyKey);
    return (await storeCall(() => this.#client.get(claim))) as OperationId | null;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.#client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.close();
    this.#client.disconnect();
  }

  /**
   * The owner-side and index-side bookkeeping of an execution that just ended, in other hash
   * slots than its own keys, so after its commit: the idempotency claim expires with it, its
   * owner's slot is freed, then it leaves the unfinished index. Best effort: the commit has
   * happened whatever this does; `listUnfinished` redoes it for any entry still indexed (the
   * index last, so an entry is only dropped once the rest is done), and the service prunes a
   * slot still held by an execution that ended.
   */
  async #afterTerminal(operationId: OperationId, record: ExecutionRecord): Promise<void> {
    try {
      const claim =
        record.idempotencyKey === null
          ? null
          : this.#keys.idempotency(record.ownerId, record.idempotencyKey);
      await Promise.all([
        claim === null ? null : this.#client.pexpire(claim, this.#ttlMs),
        this.#client.zrem(this.#keys.owner(record.ownerId).unfinished, operationId),
      ]);
      // The claim indexes first: an entry left there without the unfinished one is never read.
      const indexes = this.#keys.claimIndexes();
      await this.#client
        .multi()
        .zrem(indexes.leases, operationId)
        .hdel(indexes.types, operationId)
        .exec();
      await this.#client.zrem(indexes.unfinished, operationId);
    } catch {
      // Left for the next listUnfinished, which finds the entry terminal and finishes this.
    }
  }
}

/** A state read by read-state.lua; `assembleSnapshot` puts the timeline back in schema order. */
function parseState([record, head, ...timeline]: string[]): ExecutionState {
  const snapshot = assembleSnapshot(
    JSON.parse(head as string) as ExecutionHead,
    timeline.map((entry) => JSON.parse(entry) as TimelineEntry),
  );
  return { record: JSON.parse(record as string) as ExecutionRecord, snapshot };
}

const UINT64_MAX = (1n << 64n) - 1n;

function isLastPossibleId(cursor: Cursor): boolean {
  const parsed = parseCursor(cursor);
  return parsed !== null && parsed.ms === UINT64_MAX && parsed.seq === UINT64_MAX;
}

function parseEntry([, fields]: [string, string[]]): Envelope {
  // Fields are [name, value] pairs; an entry has exactly one, `e`.
  return parseEnvelope(fields[1] as string);
}

/** The same request under the operation id its idempotency key already claimed. */
function retarget(
  operationId: OperationId,
  record: ExecutionRecord,
  first: Envelope,
  snapshot: ExecutionSnapshot,
) {
  return {
    record: { ...record, operationId },
    first: makeEnvelope({
      streamId: streamIdOf(operationId),
      cursor: first.cursor,
      sequence: first.sequence,
      ts: first.ts,
      kind: first.kind,
      operationId,
      payload: first.payload,
    }) as Envelope,
    snapshot: { ...snapshot, operationId },
  };
}
