import { randomUUID } from 'node:crypto';
import {
  createStreamSlot,
  StoreUnavailableError,
  type StreamSlot,
  type StreamSlots,
} from '@execstream/stream-service';
import type { RedisClient } from './connect.ts';
import { storeCall, toStoreError } from './errors.ts';
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

/** What acquire-stream-slot.lua answered, with its return codes mapped once. */
function interpretAcquire(reply: unknown): 'acquired' | 'full' {
  switch (reply) {
    case 1:
      return 'acquired';
    case 0:
      return 'full';
    default:
      throw new Error(`acquire-stream-slot.lua: unexpected reply ${JSON.stringify(reply)}`);
  }
}

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

  /** @throws StoreUnavailableError when Redis cannot be reached, or after `close()` */
  async acquire(ownerId: string, limit: number): Promise<StreamSlot | null> {
    if (this.#closed) throw closedError();
    this.#issued++;
    const id = `${this.#instanceId}:${this.#issued}`;
    const reply = await storeCall(() =>
      runScript(
        this.#client,
        SCRIPTS.acquireStreamSlot,
        [this.#keys.streamSlots(ownerId)],
        [id, limit, this.#ttlMs],
      ),
    );
    if (interpretAcquire(reply) === 'full') return null;
    // If the reply is lost instead (a timeout), the slot was taken for nobody: it is never
    // renewed, so it expires after the TTL.
    if (this.#closed) {
      // `close()` ran while this call was in flight, and could not give back what it did not know.
      await this.#giveBack(ownerId, [id]);
      throw closedError();
    }
    let ids = this.#held.get(ownerId);
    if (!ids) {
      ids = new Set();
      this.#held.set(ownerId, ids);
    }
    ids.add(id);
    this.#renewal ??= setInterval(() => void this.#renew(), Math.floor(this.#ttlMs / 3)).unref();
    return createStreamSlot(() => this.#release(ownerId, id));
  }

  /**
   * Stops renewing and gives back every slot still held, at once rather than after the TTL, so
   * the clients of a restarting instance can reconnect elsewhere straight away. Later `acquire`
   * calls fail with `StoreUnavailableError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopRenewal();
    const held = [...this.#held];
    this.#held.clear();
    await Promise.all(held.map(([ownerId, ids]) => this.#giveBack(ownerId, [...ids])));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #release(ownerId: string, id: string): Promise<void> {
    const ids = this.#held.get(ownerId);
    // Not held: `close()` already gave it back.
    if (!ids?.delete(id)) return;
    if (ids.size === 0) this.#held.delete(ownerId);
    if (this.#held.size === 0) this.#stopRenewal();
    await this.#giveBack(ownerId, [id]);
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
