/**
 * The port of open-stream slots (CONTRACT §8): what counts the streams each principal holds open,
 * in this process for the embedded store, in Redis across every instance that shares it. Declared
 * here, beside the backend interface, so that a store implements it without depending on the HTTP
 * delivery that takes the slots.
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
