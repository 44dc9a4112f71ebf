import { type Cursor, compareCursors, type Envelope } from '@execstream/event-schema';

// Trimmed slots are dropped in one copy once they are this many and at least half the array,
// so trimming costs amortised O(1) per event instead of a splice of the whole window each time.
const COMPACT_AFTER = 1024;

/** The retained events of one stream, oldest first: appended at the end, trimmed at the front. */
export class RetainedEvents {
  #items: Envelope[];
  /** Index in `#items` of the oldest retained event. */
  #start = 0;

  constructor(first: Envelope) {
    this.#items = [first];
  }

  get length(): number {
    return this.#items.length - this.#start;
  }

  get first(): Envelope | undefined {
    return this.#items[this.#start];
  }

  get last(): Envelope | undefined {
    return this.#items.length > this.#start ? this.#items.at(-1) : undefined;
  }

  /** Appends, then trims the oldest so that at most `max` remain. */
  append(envelopes: readonly Envelope[], max: number): void {
    for (const envelope of envelopes) this.#items.push(envelope);
    const excess = this.length - max;
    if (excess > 0) this.#start += excess;
    if (this.#start >= COMPACT_AFTER && this.#start * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#start);
      this.#start = 0;
    }
  }

  /** At most `limit` events strictly after `cursor`. */
  after(cursor: Cursor, limit: number): Envelope[] {
    const from = this.#firstIndexAfter(cursor);
    return this.#items.slice(from, from + limit);
  }

  /** The event with exactly this cursor, if retained. */
  at(cursor: Cursor): Envelope | null {
    const index = this.#firstIndexAfter(cursor) - 1;
    // Slots before `#start` are trimmed, even while the array still holds them.
    const candidate = index >= this.#start ? this.#items[index] : undefined;
    return candidate?.cursor === cursor ? candidate : null;
  }

  /** Index of the first retained event whose cursor is after `cursor` (binary search). */
  #firstIndexAfter(cursor: Cursor): number {
    let low = this.#start;
    let high = this.#items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareCursors((this.#items[middle] as Envelope).cursor, cursor) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
