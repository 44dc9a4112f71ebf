import {
  type Cursor,
  compareCursors,
  type Envelope,
  envelopeText,
  type OperationId,
} from '@execstream/event-schema';
import type { ExecutionRecord, LiveListener, StreamBackend, TailOptions } from './types.ts';

/** The defaults of `StreamServiceOptions.tail`. */
export const TAIL_DEFAULTS = { maxEvents: 512, maxBytes: 262_144, lingerMs: 5_000 } as const;

/**
 * The live side of one execution in this process: one listener on the backend, whatever the
 * number of subscriptions, fanned out to each of them in order, and the tail, the last events it
 * saw with their serialised text, from which a resume or a reader that fell behind is served
 * without reading the store.
 *
 * The tail is contiguous by `sequence`, and only ever holds what the backend notified while this
 * feed listened, so every event after its first is in it: a cursor inside it is served from it
 * whole. A gap (a lost notification, a reconnect to Redis, a jump in sequence) resets it, and it
 * grows again from the next batch. It outlives its last subscription by `lingerMs`, so that a
 * crowd of readers that drop and come back finds it still warm.
 */
export class LiveFeed implements LiveListener {
  readonly operationId: OperationId;
  /** The record, once a subscription read it (it never changes): the owner check's input. */
  record: ExecutionRecord | null = null;
  readonly #listeners = new Set<LiveListener>();
  readonly #limits: Required<TailOptions>;
  #events: Envelope[] = [];
  /** The byte length of each event's text, beside it in `#events`. */
  #sizes: number[] = [];
  /** Index in `#events` of the oldest event in the tail. */
  #start = 0;
  #bytes = 0;
  #unlisten: (() => void) | null = null;
  #listening: Promise<void> | null = null;
  #linger: NodeJS.Timeout | null = null;
  #onIdle: () => void;
  #closed = false;

  constructor(operationId: OperationId, limits: Required<TailOptions>, onIdle: () => void) {
    this.operationId = operationId;
    this.#limits = limits;
    this.#onIdle = onIdle;
  }

  /** Subscriptions listening here. */
  get size(): number {
    return this.#listeners.size;
  }

  /** The sequence of the last event notified, `null` while the tail is empty. */
  get lastSequence(): number | null {
    return this.#events.length > this.#start ? (this.#events.at(-1) as Envelope).sequence : null;
  }

  /** The events of the tail, oldest first (a copy). */
  tail(): Envelope[] {
    return this.#events.slice(this.#start);
  }

  /**
   * Adds a listener; resolves once the backend listens (every commit after that reaches it, or
   * an `onGap`). The first listener makes the feed listen on the backend.
   */
  async add(backend: StreamBackend, listener: LiveListener): Promise<() => void> {
    if (this.#linger) {
      clearTimeout(this.#linger);
      this.#linger = null;
    }
    this.#listeners.add(listener);
    let listening = true;
    const remove = () => {
      if (!listening) return;
      listening = false;
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#idle();
    };
    try {
      this.#listening ??= backend.listen(this.operationId, this).then((unlisten) => {
        if (this.#closed) unlisten();
        else this.#unlisten = unlisten;
      });
      await this.#listening;
    } catch (error) {
      // Not listening: the next listener tries again.
      this.#listening = null;
      remove();
      throw error;
    }
    return remove;
  }

  /**
   * The tail's events strictly after `sequence`, oldest first, at most `limit`; `null` when the
   * tail does not hold every event after it (it was reset since, or never reached that far back).
   */
  after(sequence: number, limit = Number.POSITIVE_INFINITY): Envelope[] | null {
    const first = this.#events[this.#start];
    if (!first) return null;
    if (sequence < first.sequence - 1) return null;
    const from = this.#start + Math.max(0, sequence - first.sequence + 1);
    return this.#events.slice(from, Math.min(this.#events.length, from + limit));
  }

  /** The tail's event with this cursor, `null` when the tail does not hold it. */
  at(cursor: Cursor): Envelope | null {
    let low = this.#start;
    let high = this.#events.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const event = this.#events[middle] as Envelope;
      const order = compareCursors(event.cursor, cursor);
      if (order === 0) return event;
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return null;
  }

  onEvents(envelopes: readonly Envelope[]): void {
    if (this.#closed) return;
    this.#record(envelopes);
    for (const listener of this.#listeners) listener.onEvents(envelopes);
  }

  onGap(): void {
    if (this.#closed) return;
    this.#reset();
    for (const listener of this.#listeners) listener.onGap();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#linger) clearTimeout(this.#linger);
    this.#listeners.clear();
    this.#unlisten?.();
    this.#unlisten = null;
    this.#reset();
  }

  /** Appends a batch to the tail, after what it holds; a jump in sequence starts it over. */
  #record(envelopes: readonly Envelope[]): void {
    const last = this.lastSequence;
    for (const envelope of envelopes) {
      if (last !== null && envelope.sequence <= last) continue; // already held
      const previous = this.#events.length > this.#start ? this.#events.at(-1) : undefined;
      if (previous && envelope.sequence !== previous.sequence + 1) this.#reset();
      const size = Buffer.byteLength(envelopeText(envelope, false));
      this.#events.push(envelope);
      this.#sizes.push(size);
      this.#bytes += size;
    }
    const { maxEvents, maxBytes } = this.#limits;
    while (
      this.#events.length - this.#start > maxEvents ||
      (this.#bytes > maxBytes && this.#events.length - this.#start > 1)
    ) {
      this.#bytes -= this.#sizes[this.#start] as number;
      this.#start++;
    }
    // Dropped slots are let go in one copy once they are half the array: amortised O(1).
    if (this.#start > 64 && this.#start * 2 >= this.#events.length) {
      this.#events = this.#events.slice(this.#start);
      this.#sizes = this.#sizes.slice(this.#start);
      this.#start = 0;
    }
  }

  #reset(): void {
    this.#events = [];
    this.#sizes = [];
    this.#start = 0;
    this.#bytes = 0;
  }

  #idle(): void {
    if (this.#closed) return;
    const stop = () => {
      this.#linger = null;
      if (this.#listeners.size > 0) return;
      this.close();
      this.#onIdle();
    };
    if (this.#limits.lingerMs <= 0) {
      stop();
      return;
    }
    this.#linger = setTimeout(stop, this.#limits.lingerMs);
    this.#linger.unref();
  }
}
