/**
 * Open streams per principal (CONTRACT §8), counted across every surface (raw SSE, tRPC, AG-UI)
 * because each of them opens its streams through `openDelivery`. A store of slots counts them:
 * in this process for the embedded store, in Redis across every instance that shares it.
 */

/** One open stream of one owner, counted until it is released. */
export interface StreamSlot extends AsyncDisposable {
  /**
   * Gives the slot back. Idempotent, and never rejects: a store that cannot be reached is left to
   * free the slot by itself (the Redis slots expire unless their holder renews them).
   */
  release(): Promise<void>;
}

export interface StreamSlots {
  /**
   * Takes one of `ownerId`'s `limit` slots; `null` when all of them are held.
   * @throws StoreUnavailableError when the count cannot be read (an outage, not a refusal)
   */
  acquire(ownerId: string, limit: number): Promise<StreamSlot | null>;
}

/** The `slots` option of `openDelivery`: where slots are counted and how many an owner gets. */
export interface DeliverySlots {
  store: StreamSlots;
  /** Streams one owner may hold open at once, over every surface and instance. */
  limit: number;
  /**
   * The `Retry-After` of a refusal. A slot frees when one of the owner's streams ends, which no
   * one can predict; the hint keeps a client from reconnecting in a tight loop meanwhile.
   * @default 10
   */
  retryAfterSeconds?: number;
}

export const DEFAULT_STREAM_RETRY_AFTER_SECONDS = 10;

/** A slot whose `release` runs `give` once, however many times it (or dispose) is called. */
export function createStreamSlot(give: () => Promise<void> | void): StreamSlot {
  let released: Promise<void> | null = null;
  const release = () => {
    released ??= (async () => {
      try {
        await give();
      } catch {
        // `give` reports its own failures; a release must never fail its caller's cleanup.
      }
    })();
    return released;
  };
  return { release, [Symbol.asyncDispose]: release };
}
