/**
 * Group commit, Nagle-style without a delay: per key, at most one call is in flight, and the
 * items added while it is wait and go together in the next one. A lone item goes at once (the
 * call starts inside `add`); under a burst, N items cost a handful of calls instead of N, and
 * none waits longer than the call in flight before it.
 */
export class CallGroups<T> {
  readonly #send: (key: string, items: T[]) => Promise<void>;
  readonly #maxItems: number;
  /** Items waiting for the call in flight of their key. */
  readonly #queued = new Map<string, T[]>();
  /** Per key with a call in flight: settles once that key's queue is empty. */
  readonly #running = new Map<string, Promise<void>>();

  /**
   * @param send makes one call for `items` (all of one key, in the order they were added) and
   *   settles whatever its items' callers wait on, success or failure alike; it never rejects.
   * @param maxItems the most items one call carries; more wait for the next call.
   */
  constructor(send: (key: string, items: T[]) => Promise<void>, maxItems: number) {
    this.#send = send;
    this.#maxItems = maxItems;
  }

  add(key: string, item: T): void {
    const queue = this.#queued.get(key);
    if (queue) queue.push(item);
    else this.#queued.set(key, [item]);
    if (this.#running.has(key)) return;
    // `#drain` deletes its entry only after an await, so it is set by then.
    this.#running.set(key, this.#drain(key));
  }

  /** Removes and returns the items of `key` that wait, not yet sent. */
  take(key: string): T[] {
    const queue = this.#queued.get(key) ?? [];
    this.#queued.delete(key);
    return queue;
  }

  /** Settles once no call is in flight and nothing waits, for every key. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  async #drain(key: string): Promise<void> {
    for (;;) {
      const queue = this.#queued.get(key);
      if (!queue) {
        // In the same step as finding the queue empty: an item added after it starts a call.
        this.#running.delete(key);
        return;
      }
      let items = queue;
      if (queue.length > this.#maxItems) items = queue.splice(0, this.#maxItems);
      else this.#queued.delete(key);
      await this.#send(key, items);
    }
  }
}
