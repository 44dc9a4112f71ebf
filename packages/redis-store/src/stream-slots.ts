import { randomUUID } from 'node:crypto';
import {
  createStreamSlot,
  StoreUnavailableError,
  type StreamSlot,
  type StreamSlots,
} from '@execstream/stream-service';
import { CallGroups } from './call-groups.ts';
import type { RedisClient } from './connect.ts';
import { toStoreError } from './errors.ts';
import { RedisKeys } from './keys.ts';
import { runScript, SCRIPTS } from './scripts.ts';

export interface RedisStreamSlotsOptions {
  /**
   * Prefix of the keys; the stream service's, so that a deployment's data shares one prefix.
   * @default 'es'
   */
  keyPrefix?: string;
  /**
   * How long a slot outlives its holder's last renewal: how long the streams of a process that
   * died (SIGKILL, a lost host) still count against their owners. Renewed every third of it, so
   * two renewals in a row may fail before a live stream's slot expires.
   * @default 30_000
   */
  ttlMs?: number;
  /**
   * Names this process in its slot ids (`<instanceId>:<n>`), as seen with `ZRANGE`.
   * @default a random UUID
   */
  instanceId?: string;
  /**
   * Told about each renewal or release that failed (Redis unreachable), e.g. to log it. Nothing
   * else is needed: a slot not released expires, and one not renewed is added back next round.
   * @default ignore them
   */
  onError?: (error: unknown) => void;
}

/**
 * What acquire-stream-slots.lua answered, with its reply mapped once: how many of the `asked`
 * ids, from the first, it granted.
 */
function interpretAcquire(reply: unknown, asked: number): number {
  if (typeof reply === 'number' && Number.isInteger(reply) && reply >= 0 && reply <= asked) {
    return reply;
  }
  throw new Error(`acquire-stream-slots.lua: unexpected reply ${JSON.stringify(reply)}`);
}

/** One acquire waiting for its group's call. */
interface PendingAcquire {
  ownerId: string;
  limit: number;
  id: string;
  resolve: (slot: StreamSlot | null) => void;
  reject: (error: unknown) => void;
}

/** One release waiting for its group's `ZREM`. */
interface PendingRelease {
  id: string;
  done: () => void;
}

/**
 * The most acquires (or releases) one call carries: bounds one script call's arguments and the
 * time Redis spends in it; a larger burst goes in several calls, still one at a time.
 */
const MAX_GROUP = 1_000;

const MIN_TTL_MS = 300;

/**
 * Open-stream slots counted in Redis, so that every server instance sharing it enforces one
 * limit per owner (CONTRACT §8). Each owner's slots are a sorted set under the owner's hash tag,
 * scored by expiry in Redis' own clock; see docs/redis.md, "Open-stream slots".
 *
 * Slots expire unless renewed, so a process that dies cannot hold its owners' slots for good.
 * This process renews all of its slots with one timer, one script call per owner and round,
 * whatever the number of streams. Runs on the command connection it is given, which it does not
 * close: close this first, then the connection.
 */
export class RedisStreamSlots implements StreamSlots, AsyncDisposable {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #ttlMs: number;
  readonly #instanceId: string;
  readonly #onError: (error: unknown) => void;
  /** The slot ids this process holds, by owner: what every renewal round sends. */
  readonly #held = new Map<string, Set<string>>();
  #issued = 0;
  #renewal: NodeJS.Timeout | null = null;
  #renewing = false;
  #closed = false;
  readonly #acquires = new CallGroups<PendingAcquire>(
    (group, pending) => this.#acquireGroup(group, pending),
    MAX_GROUP,
  );
  readonly #releases = new CallGroups<PendingRelease>(async (ownerId, pending) => {
    await this.#giveBack(
      ownerId,
      pending.map((release) => release.id),
    );
    for (const release of pending) release.done();
  }, MAX_GROUP);

  constructor(client: RedisClient, options: RedisStreamSlotsOptions = {}) {
    const ttlMs = options.ttlMs ?? 30_000;
    if (!(Number.isInteger(ttlMs) && ttlMs >= MIN_TTL_MS)) {
      throw new RangeError(`ttlMs must be an integer of at least ${MIN_TTL_MS}, got ${ttlMs}`);
    }
    this.#client = client;
    this.#keys = new RedisKeys(options.keyPrefix ?? 'es');
    this.#ttlMs = ttlMs;
    this.#instanceId = options.instanceId ?? randomUUID();
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Acquires of one owner go to Redis in groups: while one call is in flight, the acquires that
   * arrive wait and go together in the next, which grants as many as fit, in order of arrival.
   * A lone acquire goes at once.
   * @throws StoreUnavailableError when Redis cannot be reached, or after `close()`
   */
  acquire(ownerId: string, limit: number): Promise<StreamSlot | null> {
    if (this.#closed) return Promise.reject(closedError());
    this.#issued++;
    const id = `${this.#instanceId}:${this.#issued}`;
    return new Promise((resolve, reject) => {
      // Keyed by limit too, since a call carries one limit (callers all pass the same one).
      this.#acquires.add(`${limit}:${ownerId}`, { ownerId, limit, id, resolve, reject });
    });
  }

  /**
   * Stops renewing and gives back every slot still held, at once rather than after the TTL, so
   * the clients of a restarting instance can reconnect elsewhere straight away; that includes
   * the slots of an acquire call still in flight, whose callers then fail. Later `acquire` calls
   * fail with `StoreUnavailableError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopRenewal();
    const held = [...this.#held];
    this.#held.clear();
    await Promise.all([
      ...held.map(([ownerId, ids]) => this.#giveBack(ownerId, [...ids])),
      this.#acquires.idle(),
      this.#releases.idle(),
    ]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** One acquire-stream-slots.lua call for a group of one owner's acquires. */
  async #acquireGroup(group: string, pending: PendingAcquire[]): Promise<void> {
    if (this.#closed) {
      for (const acquire of pending) acquire.reject(closedError());
      return;
    }
    const { ownerId, limit } = pending[0] as PendingAcquire;
    let granted: number;
    try {
      const reply = await runScript(
        this.#client,
        SCRIPTS.acquireStreamSlots,
        [this.#keys.streamSlots(ownerId)],
        [limit, this.#ttlMs, ...pending.map((acquire) => acquire.id)],
      );
      granted = interpretAcquire(reply, pending.length);
    } catch (error) {
      const failure = toStoreError(error);
      // Those that queued meanwhile would go to the same unreachable Redis: they fail now, not
      // one command timeout later each. If the reply was lost instead (a timeout after the script
      // ran), the slots were taken for nobody: never renewed, they expire after the TTL.
      const failed =
        failure instanceof StoreUnavailableError
          ? [...pending, ...this.#acquires.take(group)]
          : pending;
      for (const acquire of failed) acquire.reject(failure);
      return;
    }
    if (this.#closed) {
      // `close()` ran while this call was in flight, and could not give back what it did not
      // know; it waits for this.
      if (granted > 0) {
        await this.#giveBack(
          ownerId,
          pending.slice(0, granted).map((acquire) => acquire.id),
        );
      }
      for (const acquire of pending) acquire.reject(closedError());
      return;
    }
    if (granted > 0) {
      let ids = this.#held.get(ownerId);
      if (!ids) {
        ids = new Set();
        this.#held.set(ownerId, ids);
      }
      for (const acquire of pending.slice(0, granted)) ids.add(acquire.id);
      this.#renewal ??= setInterval(() => void this.#renew(), Math.floor(this.#ttlMs / 3)).unref();
    }
    pending.forEach((acquire, index) => {
      if (index >= granted) acquire.resolve(null);
      else acquire.resolve(createStreamSlot(() => this.#release(ownerId, acquire.id)));
    });
  }

  #release(ownerId: string, id: string): Promise<void> {
    const ids = this.#held.get(ownerId);
    // Not held: `close()` already gave it back.
    if (!ids?.delete(id)) return Promise.resolve();
    if (ids.size === 0) this.#held.delete(ownerId);
    if (this.#held.size === 0) this.#stopRenewal();
    // Grouped like acquires: one `ZREM` carries every release that waited for the one in flight.
    return new Promise((done) => this.#releases.add(ownerId, { id, done }));
  }

  /** `ZREM`; a failure is reported and left to the TTL, which frees the slots anyway. */
  async #giveBack(ownerId: string, ids: string[]): Promise<void> {
    try {
      await this.#client.zrem(this.#keys.streamSlots(ownerId), ...ids);
    } catch (error) {
      this.#onError(toStoreError(error));
    }
  }

  async #renew(): Promise<void> {
    // While Redis is unreachable each call waits up to the command timeout: a round still
    // running when the next is due is not doubled up.
    if (this.#renewing) return;
    this.#renewing = true;
    try {
      await Promise.all(
        [...this.#held].map(async ([ownerId, ids]) => {
          try {
            await runScript(
              this.#client,
              SCRIPTS.renewStreamSlots,
              [this.#keys.streamSlots(ownerId)],
              [this.#ttlMs, ...ids],
            );
          } catch (error) {
            this.#onError(toStoreError(error));
          }
        }),
      );
    } finally {
      this.#renewing = false;
    }
  }

  #stopRenewal(): void {
    if (this.#renewal) clearInterval(this.#renewal);
    this.#renewal = null;
  }
}

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError('The stream slots are closed: the server is shutting down');
}
