import { type Envelope, envelopeText, type OperationId } from '@execstream/event-schema';
import {
  type ExecutionStreams,
  type ExecutionSubscription,
  parseResumeCursor,
} from '@execstream/stream-service';
import { TooManyStreamsError } from './errors.ts';
import type { DeliveryObserver, Surface } from './observer.ts';
import {
  DEFAULT_STREAM_RETRY_AFTER_SECONDS,
  type DeliverySlots,
  type StreamSlot,
} from './slots.ts';

/** An event ready for the wire: the envelope from the store and its one serialisation. */
export interface Delivered {
  envelope: Envelope;
  /** `serializeEnvelope(envelope)`: the `data:` of its SSE frame on every surface. */
  data: string;
}

export interface OpenDeliveryOptions {
  streams: ExecutionStreams;
  /** The caller; executions of other owners answer as unknown ones. */
  ownerId: string;
  operationId: OperationId;
  /** The client's cursor; `null` for none (CONTRACT §4). */
  cursor: string | null;
  /**
   * Aborting ends the delivery and releases the subscription (and the slot).
   * @default none: the delivery ends when its reader does, or on `close()`
   */
  signal?: AbortSignal;
  surface: Surface;
  /**
   * Bytes of events read from the store but not yet taken by the transport. Past it the reader
   * is too slow: `onOverflow` runs and the delivery ends. The client loses nothing: it resumes
   * from the last cursor it received.
   */
  maxBacklogBytes: number;
  /** Drops the connection of a reader that passed the bound (without a clean end). */
  onOverflow: () => void;
  observer?: DeliveryObserver;
  /**
   * Open streams per principal (CONTRACT §8): the delivery holds a slot from before it subscribes
   * until it closes, whichever way it closes (at once when there is nothing to send).
   * @default no limit
   */
  slots?: DeliverySlots;
  /** @default Date.now */
  now?: () => number;
}

/**
 * One client's read of one execution, shared by every surface (raw SSE, tRPC, AG-UI) so that
 * none re-implements resume logic, owner checks or flow control.
 *
 * The subscription is read eagerly, a batch at a time, into a queue that the stream session
 * drains at its socket's pace, waiting for `drain` before taking more; at the live edge the
 * session may hand the reader to its execution's spool (`goLive`), and the read parks until the
 * spool hands it back. The queue is the reader's unsent backlog, bounded in bytes (UTF-8), so
 * one stalled reader cannot grow the server's memory:
 * - history (events appended before the stream opened, snapshots) is read only as fast as the
 *   reader takes it: at the bound the store reads pause, and a long replay never trips it;
 * - live events are pushed by producers whatever the reader does: when they take the backlog
 *   past the bound, the reader is disconnected and resumes from its cursor, losing nothing.
 */
export interface Delivery extends AsyncIterable<Delivered> {
  /** The execution is terminal and nothing follows the cursor (HTTP 204; tRPC completes). */
  readonly nothingToSend: boolean;
  /**
   * The same events, as everything queued at each take: a transport writes a batch in one go.
   * A delivery is iterated once, either way.
   */
  batches(): AsyncIterable<readonly Delivered[]>;
  /**
   * The same batches without an iterator, for a transport that waits for nothing while idle (the
   * stream session): everything queued now; `[]` when nothing is, and then `wake` runs once
   * (synchronously, from wherever the delivery learns of it) when something is, or at the end;
   * `null` once the delivery ended (after `close`, too). Throws what ended the store's read. The
   * first call opens the delivery as iterating does; use one or the other.
   */
  take(wake?: () => void): readonly Delivered[] | null;
  /** Ends the delivery (again: nothing). Bound to it, so that it can be a listener itself. */
  readonly close: () => void;
  /** What the delivery was opened with (the spool reads the execution, surface and bounds). */
  readonly options: Readonly<OpenDeliveryOptions>;
  /**
   * Hands this reader's live events to another hand (a spool), if everything read so far was
   * taken and the reader is at the live edge: the last event it has, else `null` (nothing
   * changed). Until `resumeAfter` (or `finishLive`), the delivery's own read is parked.
   */
  goLive(): { sequence: number; cursor: string } | null;
  /** After `goLive`: the reader has had everything up to `last`; the delivery reads on from it. */
  resumeAfter(last: { sequence: number; cursor: string }): void;
  /** After `goLive`: the terminal event went out; the delivery ends as it would have by itself. */
  finishLive(): void;
  /** The reader fell behind by more than the backlog bound: counted, dropped, and closed. */
  overflow(): void;
}

/**
 * Takes a stream slot, opens the subscription (whose reads check the owner), and returns the
 * delivery. Throws before anything is sent, so the caller still picks the HTTP status.
 * @throws ExecutionNotFoundError, TooManyStreamsError, CursorInvalidError, StoreUnavailableError
 */
export async function openDelivery(options: OpenDeliveryOptions): Promise<Delivery> {
  // What needs no store read first: a malformed cursor is 400 whatever the owner holds.
  parseResumeCursor(options.cursor);
  // Then the slot: an owner at its limit is refused by one cheap call, before any read of the
  // execution, so a client retrying in a loop costs the store nothing else. (An unknown execution
  // takes a read to tell: at the limit, it is the 429 too.)
  const slot = options.slots ? await acquireSlot(options.slots, options.ownerId) : null;
  let subscription: ExecutionSubscription;
  try {
    // The owner check is the subscription's own, in the reads that find where it starts: an
    // execution that does not exist and one of another owner are the same ExecutionNotFoundError.
    subscription = await options.streams.subscribe(options.operationId, {
      cursor: options.cursor,
      signal: options.signal,
      ownerId: options.ownerId,
    });
  } catch (error) {
    // A 404 (or a malformed cursor) holds no slot past its answer.
    await slot?.release();
    throw error;
  }
  return new BoundedDelivery(subscription, options, slot);
}

/** @throws TooManyStreamsError when the owner holds every slot it may */
async function acquireSlot(slots: DeliverySlots, ownerId: string): Promise<StreamSlot> {
  if (!(Number.isInteger(slots.limit) && slots.limit >= 1)) {
    throw new RangeError(`slots.limit must be a positive integer, got ${slots.limit}`);
  }
  const slot = await slots.store.acquire(ownerId, slots.limit);
  if (slot) return slot;
  throw new TooManyStreamsError(
    slots.limit,
    slots.retryAfterSeconds ?? DEFAULT_STREAM_RETRY_AFTER_SECONDS,
  );
}

/** `take`'s answer while nothing is queued (never written to). */
const NOTHING_YET: readonly Delivered[] = Object.freeze([]);

// How much a delivery's backlog may grow before the gauge hears of it between batches.
const BACKLOG_REPORT_BYTES = 65_536;

class BoundedDelivery implements Delivery {
  readonly #subscription: ExecutionSubscription;
  readonly #options: OpenDeliveryOptions;
  readonly #now: () => number;
  #slot: StreamSlot | null;
  #queue: Delivered[] = [];
  #backlogBytes = 0;
  #unreportedBacklog = 0;
  #pumpDone = false;
  #pumpError: unknown = null;
  /** The store's read runs (it stops while another hand has the live events, see `goLive`). */
  #pumping = false;
  /** Handed to another hand by `goLive`, until `resumeAfter`. */
  #live = false;
  /** The first event read is yet to come (it tells plain hydration from a replay). */
  #first = true;
  #closed = false;
  #wake: (() => void) | null = null;
  #room: (() => void) | null = null;
  #iterated = false;
  #started = false;
  #finished = false;

  constructor(
    subscription: ExecutionSubscription,
    options: OpenDeliveryOptions,
    slot: StreamSlot | null,
  ) {
    this.#subscription = subscription;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#slot = slot;
    // A 204 holds no stream open, and a surface may answer it without ever reading or closing.
    if (subscription.nothingToSend) this.#releaseSlot();
    // The abort closes the delivery itself, not only the subscription: the slot must not wait
    // for a transport that may never iterate (a client gone before the first byte).
    if (options.signal?.aborted) this.close();
    else options.signal?.addEventListener('abort', this.close);
  }

  get nothingToSend(): boolean {
    return this.#subscription.nothingToSend;
  }

  get options(): Readonly<OpenDeliveryOptions> {
    return this.#options;
  }

  goLive(): { sequence: number; cursor: string } | null {
    if (this.#closed || this.#queue.length > 0 || !this.#subscription.detach()) return null;
    // The read stops (its next batch is empty, see `#pump`): a live reader holds no pending read.
    this.#live = true;
    return { sequence: this.#subscription.lastSequence, cursor: this.#subscription.lastCursor };
  }

  resumeAfter(last: { sequence: number; cursor: string }): void {
    this.#live = false;
    this.#subscription.resumeAfter(last);
    if (!this.#pumping && !this.#pumpDone && !this.#closed) void this.#pump();
  }

  finishLive(): void {
    this.#live = false;
    this.#subscription.finish();
    if (this.#pumping) return; // it reads the end itself
    this.#pumpDone = true;
    this.#wakeUp();
  }

  overflow(): void {
    if (this.#closed) return;
    this.#options.observer?.slowConsumer?.(this.#options.surface);
    this.#options.onOverflow();
    this.close();
  }

  readonly close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.signal?.removeEventListener('abort', this.close);
    this.#releaseSlot();
    this.#subscription.close();
    this.#queue = [];
    this.#changeBacklog(-this.#backlogBytes);
    this.#wakeUp();
    this.#makeRoom();
  };

  batches(): AsyncIterable<readonly Delivered[]> {
    if (this.#iterated) throw new TypeError('A delivery can be iterated only once');
    this.#iterated = true;
    return { [Symbol.asyncIterator]: () => this.#run() };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Delivered> {
    for await (const batch of this.batches()) yield* batch;
  }

  async *#run(): AsyncGenerator<readonly Delivered[], void, undefined> {
    try {
      for (;;) {
        const batch = this.#take();
        if (batch === null) return;
        // One await per batch rather than per event.
        if (batch.length > 0) yield batch;
        else {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
        }
      }
    } finally {
      this.#finish();
    }
  }

  take(wake?: () => void): readonly Delivered[] | null {
    if (!this.#started && this.#iterated) {
      throw new TypeError('A delivery can be iterated only once');
    }
    this.#iterated = true;
    const batch = this.#take();
    if (batch !== null && batch.length === 0 && wake) this.#wake = wake;
    return batch;
  }

  #take(): readonly Delivered[] | null {
    const { surface, observer } = this.#options;
    if (!this.#started) {
      this.#started = true;
      observer?.opened?.(surface);
      void this.#pump();
    }
    if (!this.#closed) {
      if (this.#queue.length > 0) {
        // Everything queued, at once, and the metrics told once per batch.
        const batch = this.#queue;
        this.#queue = [];
        let bytes = 0;
        for (const { data } of batch) bytes += Buffer.byteLength(data);
        this.#changeBacklog(-bytes);
        this.#makeRoom();
        const last = batch[batch.length - 1] as Delivered;
        observer?.delivered?.(surface, batch.length, this.#liveLag(last.envelope));
        this.#reportBacklog();
        return batch;
      }
      if (!this.#pumpDone) return NOTHING_YET;
      if (this.#pumpError !== null) {
        this.#finish();
        throw this.#pumpError;
      }
    }
    this.#finish();
    return null;
  }

  /** The delivery ended, whichever way: closed, and the metrics told once. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.close();
    this.#reportBacklog();
    this.#options.observer?.closed?.(this.#options.surface);
  }

  /**
   * Reads the subscription into the queue until it ends, or until the reader is handed to
   * another hand (`goLive`: the subscription's batch is then empty), when it stops holding
   * anything pending; `resumeAfter` starts it again.
   */
  async #pump(): Promise<void> {
    const { surface, observer, cursor, maxBacklogBytes } = this.#options;
    this.#pumping = true;
    let done = true;
    try {
      pumping: for (;;) {
        const batch = await this.#subscription.nextBatch();
        if (batch === null || this.#closed) break;
        if (batch.length === 0) {
          // Live by another hand: the read stops here (unless it was handed back meanwhile).
          if (!this.#live) continue;
          done = false;
          return;
        }
        for (const envelope of batch) {
          if (this.#closed) break pumping;
          if (envelope.kind === 'execution.snapshot') {
            // A snapshot first with no cursor is plain hydration; anywhere else it is a resync.
            if (!this.#first || cursor !== null) observer?.resynced?.(surface);
          } else if (this.#first && cursor !== null) {
            observer?.replayed?.(surface);
          }
          this.#first = false;
          const data = envelopeText(envelope);
          this.#queue.push({ envelope, data });
          this.#changeBacklog(Buffer.byteLength(data));
          // Live events queue for a reader that is not taking them: the gauge hears of it once the
          // unreported growth is worth a line on a dashboard, not at every event.
          if (this.#unreportedBacklog >= BACKLOG_REPORT_BYTES) this.#reportBacklog();
          this.#wakeUp();
          if (this.#backlogBytes <= maxBacklogBytes) continue;
          if (this.#liveLag(envelope) !== null) {
            // Events that come in one go (appends back to back in this process, a large batch, a
            // catch-up read) arrive here faster than any transport takes them, even into an empty
            // socket: give the transport one turn of the event loop, in which it writes until the
            // socket is full, and judge after it.
            await new Promise<void>((resolve) => setImmediate(resolve));
            if (this.#closed) break pumping;
            if (this.#backlogBytes <= maxBacklogBytes) continue;
            this.overflow();
            break pumping;
          }
          // A reader that stopped reading: the gauge shows what it holds while it holds it.
          this.#reportBacklog();
          await new Promise<void>((resolve) => {
            this.#room = resolve;
          });
        }
      }
    } catch (error) {
      this.#pumpError = error;
    } finally {
      this.#pumping = false;
      if (done) {
        this.#pumpDone = true;
        this.#wakeUp();
      }
    }
  }

  #releaseSlot(): void {
    const slot = this.#slot;
    this.#slot = null;
    // Not awaited: a release never rejects, and one the store missed expires on its own.
    void slot?.release();
  }

  #changeBacklog(deltaBytes: number): void {
    this.#backlogBytes += deltaBytes;
    this.#unreportedBacklog += deltaBytes;
  }

  /** The backlog gauge hears the net change since it last heard, once per batch. */
  #reportBacklog(): void {
    if (this.#unreportedBacklog === 0) return;
    this.#options.observer?.backlog?.(this.#options.surface, this.#unreportedBacklog);
    this.#unreportedBacklog = 0;
  }

  /**
   * Append-to-delivery lag of a live event; `null` for history. Live means appended after the
   * subscription opened, told by sequence rather than by `ts`, so that a producer's clock running
   * ahead or behind this host's cannot make a replay look live (and trip the bound) or the reverse.
   */
  #liveLag(envelope: Envelope): number | null {
    if (envelope.kind === 'execution.snapshot') return null;
    if (envelope.sequence <= this.#subscription.headSequence) return null;
    return Math.max(0, this.#now() - Date.parse(envelope.ts));
  }

  /** Lets a paused history read go on once the reader took something (or left). */
  #makeRoom(): void {
    if (this.#backlogBytes > this.#options.maxBacklogBytes && !this.#closed) return;
    const room = this.#room;
    this.#room = null;
    room?.();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
