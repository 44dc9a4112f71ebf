import {
  type Envelope,
  type ExecutionHead,
  type ExecutionSnapshot,
  isTerminalStatus,
  type OperationId,
  snapshotEnvelope,
} from '@execstream/event-schema';
import { StoreUnavailableError } from './errors.ts';
import type { ExecutionSubscription, LiveListener, StreamBackend } from './types.ts';

/** Where a subscription starts: after a known event, or with a snapshot of the head. */
export type StartPoint =
  | { kind: 'after'; sequence: number; cursor: string }
  | { kind: 'snapshot'; snapshot: ExecutionSnapshot };

// Backoff while the store is unreachable: a subscriber waits and retries rather than failing,
// so that a Redis restart never ends (or hangs) open streams.
const STORE_RETRY_MIN_MS = 50;
const STORE_RETRY_MAX_MS = 2_000;

/**
 * One subscriber's read of one execution: replay from the store by cursor, then the live tail.
 *
 * The live listener is registered before anything is read, and every event is checked against
 * the last delivered `sequence`: older ones are dropped, the next one is delivered, and a jump
 * (a lost notification, an overflowed queue) sends the subscriber back to the store. The store
 * is the source of truth; notifications are only a fast path.
 */
export class LiveSubscription implements ExecutionSubscription {
  readonly #backend: StreamBackend;
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

  constructor(options: {
    backend: StreamBackend;
    operationId: OperationId;
    maxQueued: number;
    pageSize: number;
    signal: AbortSignal | undefined;
    onClose: () => void;
  }) {
    this.#backend = options.backend;
    this.#operationId = options.operationId;
    this.#maxQueued = options.maxQueued;
    this.#pageSize = options.pageSize;
    this.#signal = options.signal;
    this.#onClose = options.onClose;
    // A signal aborted already (the client left while we were setting up) never fires 'abort'.
    if (this.#signal?.aborted) this.close();
    else this.#signal?.addEventListener('abort', this.close);
  }

  get nothingToSend(): boolean {
    return this.#nothingToSend;
  }

  get headSequence(): number {
    return this.#headSequence;
  }

  /** The listener handed to the backend. */
  readonly listener: LiveListener = {
    onEvents: (envelopes) => {
      if (this.#closed) return;
      if (this.#queue.length + envelopes.length > this.#maxQueued) {
        // A slow reader: drop what it has not taken and let it re-read from the store.
        this.#queue = [];
        this.#mustCatchUp = true;
      } else {
        for (const envelope of envelopes) this.#queue.push(envelope);
      }
      this.#wakeUp();
    },
    onGap: () => {
      this.#mustCatchUp = true;
      this.#wakeUp();
    },
  };

  /** Registers the live listener; call before reading the state the start point comes from. */
  async listen(): Promise<void> {
    const unlisten = await this.#backend.listen(this.#operationId, this.listener);
    if (this.#closed) unlisten();
    else this.#unlisten = unlisten;
  }

  /**
   * Sets the start point, given the head it was chosen against, and the first page of the replay
   * when it was read with the start point: the events after it, at most a page.
   */
  begin(start: StartPoint, head: ExecutionHead, firstPage?: Envelope[]): void {
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

  readonly close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.close);
    this.#unlisten?.();
    this.#unlisten = null;
    this.#queue = [];
    this.#wakeUp();
    this.#onClose();
  };

  [Symbol.asyncIterator](): AsyncIterator<Envelope> {
    if (this.#iterated) throw new TypeError('A subscription can be iterated only once');
    this.#iterated = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<Envelope, void, undefined> {
    try {
      const start = this.#start;
      if (!start || this.#closed) return;
      let lastSequence: number;
      let lastCursor: string;
      let catchingUp = true;
      if (start.kind === 'snapshot') {
        yield snapshotEnvelope(start.snapshot);
        if (isTerminalStatus(start.snapshot.status)) return;
        lastSequence = start.snapshot.sequence;
        lastCursor = start.snapshot.cursor;
      } else {
        lastSequence = start.sequence;
        lastCursor = start.cursor;
      }

      while (!this.#closed) {
        if (catchingUp || this.#mustCatchUp) {
          this.#mustCatchUp = false;
          const prefetched = this.#firstPage;
          this.#firstPage = null;
          const page =
            prefetched ??
            (await this.#withStoreRetry(() =>
              this.#backend.readAfter(this.#operationId, lastCursor, this.#pageSize),
            ));
          if (page === undefined || this.#closed) return;
          const first = page[0];
          if (first && first.sequence !== lastSequence + 1) {
            // The events we still owe were trimmed while we read: resync from the head.
            const head = await this.#withStoreRetry(() =>
              this.#backend.readState(this.#operationId),
            );
            if (!head || this.#closed) return;
            yield snapshotEnvelope(head.snapshot);
            if (isTerminalStatus(head.snapshot.status)) return;
            lastSequence = head.snapshot.sequence;
            lastCursor = head.snapshot.cursor;
            continue;
          }
          for (const envelope of page) {
            yield envelope;
            if (endsStream(envelope)) return;
            lastSequence = envelope.sequence;
            lastCursor = envelope.cursor;
          }
          catchingUp = page.length === this.#pageSize;
          continue;
        }

        const envelope = this.#queue.shift();
        if (!envelope) {
          await this.#waitForWake();
          continue;
        }
        if (envelope.sequence <= lastSequence) continue;
        if (envelope.sequence !== lastSequence + 1) {
          catchingUp = true;
          continue;
        }
        yield envelope;
        if (endsStream(envelope)) return;
        lastSequence = envelope.sequence;
        lastCursor = envelope.cursor;
      }
    } finally {
      this.close();
    }
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
      let timer: NodeJS.Timeout | undefined;
      this.#wake = () => {
        if (timer) clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(() => this.#wake?.(), timeoutMs);
    });
  }

  #wakeUp(): void {
    this.#wake?.();
  }
}

function endsStream(envelope: Envelope): boolean {
  return envelope.kind === 'execution.state_changed' && isTerminalStatus(envelope.payload.to);
}
