import type { ServerResponse } from 'node:http';

/** One open stream on the clock: when it last wrote, when it pings, when its lifetime ends. */
export interface ClockedStream {
  readonly res: ServerResponse;
  /** When something was last written to it (ms, `Date.now()`): a ping is due after idling. */
  wroteAt: number;
  readonly pingIntervalMs: number;
  readonly ping: string;
  /** When its lifetime ends (ms, `Date.now()`). */
  readonly endsAt: number;
  /** Runs once, at `endsAt` (called on the stream, as a method). */
  onLifetime(): void;
}

// The clock ticks at a quarter of the shortest ping interval on it, within these bounds: a ping
// is written at most a quarter interval early, never late, and a lifetime ends within a tick.
const MIN_TICK_MS = 25;
const MAX_TICK_MS = 1_000;

/**
 * Every open stream's pings and lifetime on one process-wide timer, not two timers per stream:
 * each tick writes a ping to the streams idle for their ping interval (a stream that carries
 * events needs none) and ends those whose lifetime is over.
 */
class StreamClock {
  readonly #streams = new Set<ClockedStream>();
  #timer: NodeJS.Timeout | null = null;
  #tickMs = MAX_TICK_MS;

  add(stream: ClockedStream): void {
    this.#streams.add(stream);
    const tick = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, stream.pingIntervalMs / 4));
    if (!this.#timer || tick < this.#tickMs) this.#start(tick);
  }

  remove(stream: ClockedStream): void {
    if (this.#streams.delete(stream) && this.#streams.size === 0) this.#stop();
  }

  /** No stream left: no timer either. */
  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#tickMs = MAX_TICK_MS;
  }

  #start(tickMs: number): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#tickMs = tickMs;
    this.#timer = setInterval(() => this.#tick(), tickMs);
    // The streams' sockets keep the process alive, not their clock.
    this.#timer.unref();
  }

  #tick(): void {
    const now = Date.now();
    for (const stream of this.#streams) {
      if (now >= stream.endsAt) {
        this.#streams.delete(stream);
        stream.onLifetime();
        continue;
      }
      const { res } = stream;
      if (now - stream.wroteAt >= stream.pingIntervalMs - this.#tickMs) {
        if (!res.writableEnded && !res.destroyed) res.write(stream.ping);
        stream.wroteAt = now;
      }
    }
    if (this.#streams.size === 0) this.#stop();
  }
}

const clock = new StreamClock();

/**
 * Puts a stream on the process-wide clock until `offClock`: `ping` written whenever it has
 * written nothing for `pingIntervalMs` (CONTRACT §5), `onLifetime` run once at `endsAt`. The
 * stream itself is the clock's entry: nothing else is made per stream.
 */
export function onClock(stream: ClockedStream): void {
  clock.add(stream);
}

/** Takes a stream off the clock (again: nothing). */
export function offClock(stream: ClockedStream): void {
  clock.remove(stream);
}
