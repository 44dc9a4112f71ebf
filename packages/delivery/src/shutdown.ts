/**
 * The streams open on one shutdown signal, ended together when it aborts, through one listener
 * on the signal for all of them. A listener per stream would put thousands of listeners on one
 * process-wide signal (and a `MaxListenersExceededWarning` past ten).
 */
class ShutdownRegistry {
  readonly #signal: AbortSignal;
  readonly #ends = new Set<() => void>();
  readonly #onAbort = () => {
    this.#signal.removeEventListener('abort', this.#onAbort);
    const ends = [...this.#ends];
    this.#ends.clear();
    for (const end of ends) end();
  };

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  register(end: () => void): Disposable {
    if (this.#signal.aborted) {
      end();
      return { [Symbol.dispose]() {} };
    }
    // The listener is held only while some stream is open, so an idle signal carries none.
    if (this.#ends.size === 0) this.#signal.addEventListener('abort', this.#onAbort);
    this.#ends.add(end);
    return {
      [Symbol.dispose]: () => {
        if (!this.#ends.delete(end)) return;
        if (this.#ends.size === 0) this.#signal.removeEventListener('abort', this.#onAbort);
      },
    };
  }
}

const registries = new WeakMap<AbortSignal, ShutdownRegistry>();

/**
 * Runs `end` once when `signal` aborts (at once when it already has), until the returned
 * disposable is disposed. Every surface given the same signal shares one listener on it.
 */
export function onShutdown(signal: AbortSignal | undefined, end: () => void): Disposable {
  if (!signal) return { [Symbol.dispose]() {} };
  let registry = registries.get(signal);
  if (!registry) {
    registry = new ShutdownRegistry(signal);
    registries.set(signal, registry);
  }
  return registry.register(end);
}
