import type { OperationId } from '@execstream/event-schema';

/** The keys and the pub/sub channel of one execution; all share the hash tag `{op_…}`. */
export interface ExecutionKeys {
  /** Hash: `record`, `head` (the snapshot without its timeline), `seq`, `terminal`, `owner`. */
  state: string;
  /** Stream: one entry per retained event, id = cursor, field `e` = the envelope JSON. */
  events: string;
  /** List: the snapshot's timeline entries as JSON, oldest first (never trimmed). */
  timeline: string;
  /** String: the lease holder, with a PX expiry. */
  lease: string;
  /** Shard channel: each committed batch as a JSON array of envelopes. */
  channel: string;
}

/** The keys of one owner; all share the hash tag `{owner:<id>}`. */
export interface OwnerKeys {
  /** Sorted set: the owner's operation ids, scored by creation order (`counter`). */
  executions: string;
  /** String: the last creation-order number handed out. */
  counter: string;
  /**
   * Sorted set: the owner's reservations of unfinished-execution slots, op ids scored by when
   * they were reserved (ms). Its size is what `maxUnfinished` is checked against.
   */
  unfinished: string;
}

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Every Redis key of execstream is built here. Keys of one execution share the hash tag
 * `{op_…}` and keys of one owner share `{owner:…}`, so each Lua script touches a single hash
 * slot and runs unchanged on Redis Cluster. The prefix separates deployments (and tests) that
 * share a Redis.
 *
 * ```text
 * <prefix>:{op_X}:state      hash    record, head, seq, terminal, owner
 * <prefix>:{op_X}:events     stream  id = cursor, e = envelope JSON
 * <prefix>:{op_X}:timeline   list    timeline entries JSON
 * <prefix>:{op_X}:lease      string  holder, PX = lease ttl
 * <prefix>:{op_X}:live       shard channel (SPUBLISH / SSUBSCRIBE)
 * <prefix>:{op_X}:appended:<key>  string  a producer append's result by Idempotency-Key, PX 24 h
 * <prefix>:{owner:O}:executions          zset    op ids by creation order
 * <prefix>:{owner:O}:counter             string  creation-order counter
 * <prefix>:{owner:O}:idem:<key>          string  op id claimed by an idempotency key
 * <prefix>:{owner:O}:stream-slots        zset    open-stream slot ids by expiry (server ms)
 * <prefix>:{owner:O}:unfinished          zset    op ids holding a slot, by reserved-at ms
 * <prefix>:{unfinished}                  zset    op ids not yet terminal, by createdAt ms
 * <prefix>:{unfinished}:leases           zset    op ids leased, by lease expiry ms (a hint)
 * <prefix>:{unfinished}:types            hash    op id -> execution type, for claims by type
 * <prefix>:{unfinished}:claimable        shard channel  an empty message when a run may have become claimable
 * ```
 *
 * Owner ids and idempotency keys are caller-chosen strings, so they are percent-encoded: a `}`
 * or `:` in them can neither end the hash tag early nor make two different keys collide.
 */
export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new TypeError(`Redis key prefix must match ${PREFIX_PATTERN}, got ${prefix}`);
    }
    this.prefix = prefix;
  }

  execution(operationId: OperationId): ExecutionKeys {
    const base = `${this.prefix}:{${operationId}}`;
    return {
      state: `${base}:state`,
      events: `${base}:events`,
      timeline: `${base}:timeline`,
      lease: `${base}:lease`,
      channel: `${base}:live`,
    };
  }

  /** A producer append's remembered result under its idempotency key (CONTRACT §12). */
  appended(operationId: OperationId, idempotencyKey: string): string {
    return `${this.prefix}:{${operationId}}:appended:${encodeURIComponent(idempotencyKey)}`;
  }

  owner(ownerId: string): OwnerKeys {
    const base = this.#ownerBase(ownerId);
    return {
      executions: `${base}:executions`,
      counter: `${base}:counter`,
      unfinished: `${base}:unfinished`,
    };
  }

  idempotency(ownerId: string, idempotencyKey: string): string {
    return `${this.#ownerBase(ownerId)}:idem:${encodeURIComponent(idempotencyKey)}`;
  }

  /** Sorted set: the owner's open-stream slots, scored by when they expire (Redis `TIME`, ms). */
  streamSlots(ownerId: string): string {
    return `${this.#ownerBase(ownerId)}:stream-slots`;
  }

  /** One index for the whole deployment: it lives in one slot, on one node of a cluster. */
  unfinished(): string {
    return `${this.prefix}:{unfinished}`;
  }

  /**
   * Beside the unfinished index, in its slot, so one script reads all three: which unfinished
   * executions are leased (until when), and of which type each is.
   */
  claimIndexes(): { unfinished: string; leases: string; types: string; claimable: string } {
    const unfinished = this.unfinished();
    return {
      unfinished,
      leases: `${unfinished}:leases`,
      types: `${unfinished}:types`,
      claimable: `${unfinished}:claimable`,
    };
  }

  #ownerBase(ownerId: string): string {
    return `${this.prefix}:{owner:${encodeURIComponent(ownerId)}}`;
  }
}
