/**
 * Claims that wait for work (the long poll of CONTRACT §12). A create, a release or an end in
 * this process wakes them at once; what other processes sharing the store do, and leases that
 * expire, are seen by looking again every `pollMs` while waiting.
 */
export class ClaimWaiters {
  readonly #pollMs: number;
  #generation = 0;
  readonly #waiting = new Set<() => void>();

  /** @param pollMs How often a waiting claim looks again without a wake-up. */
  constructor(pollMs: number) {
    this.#pollMs = pollMs;
  }

  /** Taken before looking: a wake-up after it makes the next `wait` return at once. */
  ticket(): number {
    return this.#generation;
  }

  /** Something may have become claimable. */
  wake(): void {
    this.#generation++;
    for (const resume of this.#waiting) resume();
    this.#waiting.clear();
  }

  /** Resolves on a wake-up after `ticket`, after `pollMs` or `ms` (the sooner), or on abort. */
  wait(ticket: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (ticket !== this.#generation || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, this.#pollMs));
      this.#waiting.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Claims waiting now. */
  get size(): number {
    return this.#waiting.size;
  }
}
