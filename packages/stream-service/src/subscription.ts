import {
  type Envelope,
  type ExecutionHead,
  type ExecutionSnapshot,
  endsExecution,
  isTerminalStatus,
  type OperationId,
  snapshotEnvelope,
} from '@execstream/event-schema';
import { StoreUnavailableError } from './errors.ts';
import type { LiveFeed } from './live-feed.ts';
import type { ExecutionSubscription, LiveListener, StreamBackend } from './types.ts';

/** Where a subscription starts: after a known event, or with a snapshot of the head. */
export type StartPoint =
  | { kind: 'after'; sequence: number; cursor: string }
  | { kind: 'snapshot'; snapshot: ExecutionSnapshot };

// Backoff while the store is unreachable: a subscriber waits and retries rather than failing,
// so that a Redis restart never ends (or hangs) open streams.
const STORE_RETRY_MIN_MS = 50;
const STORE_RETRY_MAX_MS = 2_000;

/** What a subscription needs of the head its start point was chosen against. */
export type StartHead = Pick<ExecutionHead, 'sequence' | 'status'>;

/** What a subscription reads besides its feed: the store, counted. */
export interface SubscriptionStore {
  backend: StreamBackend;
  /** Counts one read of the store made for a subscription (`ExecutionStreams.storeReads`). */
  counted<T>(read: () => Promise<T>): Promise<T>;
}

/**
 * One subscriber's read of one execution: replay by cursor, then the live events.
 *
 * The live listener is registered (on the execution's feed) before anything is read, and every
 * event is checked against the last delivered `sequence`: older ones are dropped, the next one is
 * delivered, and a jump (a lost notification, an overflowed queue) sends the subscriber back to
 * catch up: from the feed's tail when it holds every event after the last delivered, else from
 * the store. The store is the source of truth; notifications and the tail are only a fast path.
 *
 * It is its own live listener and its signal's abort listener (`handleEvent`), with methods on
 * the prototype rather than closures made per subscription: an open stream holds one of these
 * for as long as it stays open, so whatever each one allocates is paid once per idle reader.
 */
export class LiveSubscription implements ExecutionSubscription, LiveListener {
  readonly #store: SubscriptionStore;
  readonly #feed: LiveFeed;
  readonly #operationId: OperationId;
  readonly #maxQueued: number;
  readonly #pageSize: number;
  readonly #onClose: () => void;
  #queue: Envelope[] = [];
  #mustCatchUp = false;
  #wake: (() => void) | null = null;
  #unlisten: (() => void) | null = null;
  #closed = false;
  #iterated = false;
  #start: StartPoint | null = null;
  #firstPage: Envelope[] | null = null;
  #signal: AbortSignal | undefined;
  #nothingToSend = false;
  #headSequence = 0;
  /** The last event handed out (or the snapshot's), `-1` before the start point is known. */
  #lastSequence = -1;
  #lastCursor = '';
  /** Reading history (or catching up) rather than taking live events as they come. */
  #catchingUp = true;
  /** The terminal event went out: nothing follows. */
  #ended = false;
  /** Waiting for live events with nothing owed: at the live edge. */
  #waitingLive = false;
  /** Not listening: someone else hands the live events out (see `detach`). */
  #detached = false;

  constructor(options: {
    store: SubscriptionStore;
    feed: LiveFeed;
    maxQueued: number;
    pageSize: number;
    signal: AbortSignal | undefined;
    onClose: () => void;
  }) {
    this.#store = options.store;
    this.#feed = options.feed;
    this.#operationId = options.feed.operationId;
    this.#maxQueued = options.maxQueued;
    this.#pageSize = options.pageSize;
    this.#signal = options.signal;
    this.#onClose = options.onClose;
    // A signal aborted already (the client left while we were setting up) never fires 'abort'.
    if (this.#signal?.aborted) this.close();
    else this.#signal?.addEventListener('abort', this);
  }

  /** The signal aborted: `close()`. */
  handleEvent(): void {
    this.close();
  }

  get nothingToSend(): boolean {
    return this.#nothingToSend;
  }

  get headSequence(): number {
    return this.#headSequence;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get lastSequence(): number {
    return this.#lastSequence;
  }

  get lastCursor(): string {
    return this.#lastCursor;
  }

  get atLiveEdge(): boolean {
    return this.#waitingLive && !this.#mustCatchUp && this.#queue.length === 0 && !this.#closed;
  }

  /**
   * Stops listening, at the live edge, while the caller hands this reader its live events by
   * itself (a spool that writes one batch to every reader). `resumeAfter` takes it back.
   * @returns false, changing nothing, unless the subscription is at the live edge
   */
  detach(): boolean {
    if (!this.atLiveEdge || this.#detached) return false;
    this.#detached = true;
    this.#unlisten?.();
    this.#unlisten = null;
    // The read waiting at the live edge returns (an empty batch): a reader handed to someone
    // else keeps no suspended read, only this object, until `resumeAfter`.
    this.#wakeUp();
    return true;
  }

  /**
   * Listens again after `detach`, the reader having had every event up to `last`: it catches up
   * from there (from the tail, or the store), then follows live events itself.
   */
  resumeAfter(last: { sequence: number; cursor: string }): void {
    if (!this.#detached || this.#closed) return;
    this.#detached = false;
    this.#lastSequence = last.sequence;
    this.#lastCursor = last.cursor;
    this.#mustCatchUp = true;
    const listening = this.#feed.add(this.#store.backend, this);
    listening.then(
      (unlisten) => {
        if (this.#closed || this.#detached) unlisten();
        else this.#unlisten = unlisten;
      },
      // The feed could not listen: catching up again from the store finds what was missed.
      () => this.onGap(),
    );
    this.#wakeUp();
  }

  /** The terminal event went out by another hand (see `detach`): the iteration ends. */
  finish(): void {
    this.#ended = true;
    this.close();
  }

  /** Live events from the feed, which this subscription listens to (see `listen`). */
  onEvents(envelopes: readonly Envelope[]): void {
    if (this.#closed) return;
    if (this.#queue.length + envelopes.length > this.#maxQueued) {
      // A slow reader: drop what it has not taken and let it catch up by cursor.
      this.#queue = [];
      this.#mustCatchUp = true;
    } else {
      for (const envelope of envelopes) this.#queue.push(envelope);
    }
    this.#wakeUp();
  }

  /** Notifications may have been lost: catch up by cursor. */
  onGap(): void {
    this.#mustCatchUp = true;
    this.#wakeUp();
  }

  /** Registers the live listener; call before reading the state the start point comes from. */
  async listen(): Promise<void> {
    const unlisten = await this.#feed.add(this.#store.backend, this);
    if (this.#closed) unlisten();
    else this.#unlisten = unlisten;
  }

  /**
   * Sets the start point, given the head it was chosen against, and the first page of the replay
   * when it was read with the start point: the events after it, at most a page.
   */
  begin(start: StartPoint, head: StartHead, firstPage?: Envelope[]): void {
    this.#start = start;
    this.#firstPage = firstPage ?? null;
    this.#headSequence = head.sequence;
    if (
      start.kind === 'after' &&
      isTerminalStatus(head.status) &&
      start.sequence >= head.sequence
    ) {
      this.#nothingToSend = true;
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this);
    this.#unlisten?.();
    this.#unlisten = null;
    this.#queue = [];
    this.#wakeUp();
    this.#onClose();
  }

  [Symbol.asyncIterator](): AsyncIterator<Envelope> {
    if (this.#iterated) throw new TypeError('A subscription can be iterated only once');
    this.#iterated = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<Envelope, void, undefined> {
    try {
      for (;;) {
        const batch = await this.nextBatch();
        if (batch === null) return;
        // Detached: nothing comes this way until `resumeAfter` (or the end) wakes it.
        if (batch.length === 0 && this.#detached) await this.#waitForWake();
        yield* batch;
      }
    } finally {
      this.close();
    }
  }

  /**
   * The next events in order, as many as are at hand (a page of history, a slice of the tail, the
   * live events queued): `null` once the subscription has ended (its terminal event went out, or
   * it was closed). Waits while there is nothing to take, except while detached: then an empty
   * batch, at once (see `detach`).
   */
  async nextBatch(): Promise<readonly Envelope[] | null> {
    while (!this.#closed && !this.#ended) {
      if (this.#lastSequence < 0) {
        const start = this.#start;
        if (!start) return null;
        // Used once: a stream that stays open must not keep its opening snapshot alive.
        this.#start = null;
        if (start.kind === 'snapshot') return [this.#snapshotTaken(start.snapshot)];
        this.#lastSequence = start.sequence;
        this.#lastCursor = start.cursor;
        continue;
      }
      if (this.#catchingUp || this.#mustCatchUp) {
        const batch = await this.#catchUp();
        if (batch === null) return null;
        if (batch.length > 0) return batch;
        continue;
      }
      const batch = this.#takeQueued();
      if (batch.length > 0) return batch;
      if (this.#catchingUp) continue;
      if (this.#detached) return [];
      this.#waitingLive = true;
      await this.#waitForWake();
      this.#waitingLive = false;
    }
    // Ended: nothing is left to listen for.
    this.close();
    return null;
  }

  /** One step of catching up: from the tail when it holds what is owed, else from the store. */
  async #catchUp(): Promise<readonly Envelope[] | null> {
    this.#mustCatchUp = false;
    const prefetched = this.#firstPage;
    this.#firstPage = null;
    let page = prefetched ?? this.#feed.after(this.#lastSequence, this.#pageSize);
    if (page !== null && page.length < this.#pageSize && prefetched === null) {
      // The tail had everything owed: the reader is at the live edge.
      this.#catchingUp = false;
      return this.#taken(page);
    }
    page ??=
      (await this.#withStoreRetry(() =>
        this.#store.counted(() =>
          this.#store.backend.readAfter(this.#operationId, this.#lastCursor, this.#pageSize),
        ),
      )) ?? null;
    if (page === null || this.#closed) return null;
    const first = page[0];
    if (first && first.sequence !== this.#lastSequence + 1) {
      // The events we still owe were trimmed while we read: resync from the head.
      const state = await this.#withStoreRetry(() =>
        this.#store.counted(() => this.#store.backend.readState(this.#operationId)),
      );
      if (!state || this.#closed) return null;
      this.#catchingUp = true;
      return [this.#snapshotTaken(state.snapshot)];
    }
    this.#catchingUp = page.length === this.#pageSize;
    return this.#taken(page);
  }

  /** The live events queued, those after the last handed out; a jump means catching up. */
  #takeQueued(): Envelope[] {
    const queued = this.#queue;
    this.#queue = [];
    let from = 0;
    while (from < queued.length && (queued[from] as Envelope).sequence <= this.#lastSequence) {
      from++;
    }
    if (from === queued.length) return [];
    if ((queued[from] as Envelope).sequence !== this.#lastSequence + 1) {
      this.#catchingUp = true;
      return [];
    }
    let to = from + 1;
    while (
      to < queued.length &&
      (queued[to] as Envelope).sequence === (queued[to - 1] as Envelope).sequence + 1
    ) {
      to++;
    }
    if (to < queued.length) this.#mustCatchUp = true;
    return this.#taken(from === 0 && to === queued.length ? queued : queued.slice(from, to));
  }

  /** Hands out `events` (contiguous after the last handed out), ending at a terminal event. */
  #taken(events: Envelope[]): Envelope[] {
    const end = events.findIndex(endsExecution);
    const batch = end === -1 ? events : events.slice(0, end + 1);
    const last = batch.at(-1);
    if (last) {
      this.#lastSequence = last.sequence;
      this.#lastCursor = last.cursor;
    }
    if (end !== -1) this.#ended = true;
    return batch;
  }

  #snapshotTaken(snapshot: ExecutionSnapshot): Envelope {
    this.#lastSequence = snapshot.sequence;
    this.#lastCursor = snapshot.cursor;
    if (isTerminalStatus(snapshot.status)) this.#ended = true;
    return snapshotEnvelope(snapshot);
  }

  /** Runs a store read, waiting and retrying while the store is unavailable. */
  async #withStoreRetry<T>(read: () => Promise<T>): Promise<T | undefined> {
    let delay = STORE_RETRY_MIN_MS;
    while (!this.#closed) {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        await this.#waitForWake(delay);
        delay = Math.min(delay * 2, STORE_RETRY_MAX_MS);
      }
    }
    return undefined;
  }

  #waitForWake(timeoutMs?: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Waiting at the live edge is what an idle stream does: its wake is the promise's own
      // resolve, no closure around it. A wait with a timeout clears its timer when woken early.
      if (timeoutMs === undefined) {
        this.#wake = resolve;
        return;
      }
      const timer = setTimeout(() => this.#wakeUp(), timeoutMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
