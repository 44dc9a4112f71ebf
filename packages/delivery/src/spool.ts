import type { ServerResponse } from 'node:http';
import { type Envelope, endsExecution, type OperationId } from '@execstream/event-schema';
import type { LiveListener } from '@execstream/stream-service';
import type { ClockedStream } from './clock.ts';
import type { Delivery } from './delivery.ts';

/** One reader of a spool: its response and its delivery, and how far it has got. */
export interface SpoolReader {
  readonly res: ServerResponse;
  /** Its place on the stream clock, which hears of each write (a stream that writes needs no ping). */
  readonly stream: ClockedStream;
  readonly delivery: Delivery;
  /** The last event written to it. */
  last: { sequence: number; cursor: string };
  /** Bytes of events broadcast since it was moved aside; `-1` while it is caught up. */
  owed: number;
  /** Of `owed`, how much the backlog gauge has heard of. */
  reported: number;
  /** Its one `drain` listener while it is aside. */
  onDrain: (() => void) | null;
  readonly framing: SpoolFraming;
}

/** The frames one spool writes to all its readers: one execution's, for one surface. */
export interface SharedFrames {
  /** An event's frame, the same bytes for every reader; asked in order, each event once or more. */
  frame(envelope: Envelope): Buffer;
  /** Notifications may have been lost: what follows may not follow what was framed. */
  gap?(): void;
}

/** How a surface's readers share spools (`StreamFraming.spool`). */
export interface SpoolFraming {
  /** One spool per execution per key: the route. */
  readonly key: object;
  /** The frames of one execution's spool, made with the spool. */
  framesFor(operationId: OperationId): SharedFrames;
  /**
   * Whether this reader may join a spool writing `frames`: its frames from now on must be
   * theirs (AG-UI: it holds the state they follow from). @default always
   */
  admits?(frames: SharedFrames): boolean;
  /** It left the spool having had every event up to `last`, and writes its own frames again. */
  left?(frames: SharedFrames, last: { sequence: number; cursor: string }): void;
}

/** The spool framing of a surface whose frames are the same for every reader, as they are. */
export function sharedFraming(frame: (envelope: Envelope) => Buffer): SpoolFraming {
  const frames: SharedFrames = { frame };
  return { key: frames, framesFor: () => frames };
}

// How much an aside reader's debt may grow before the backlog gauge hears of it.
const BACKLOG_REPORT_BYTES = 65_536;

/**
 * The live events of one execution for one surface, written once for every reader that is caught
 * up (Centrifuge's hub and Nchan's grouped subscribers do the same): on each batch the frames are
 * made once, as the surface's shared bytes, and written synchronously to every reader whose
 * socket has room (`writableNeedDrain` false), with plain chunked `res.write`. No queue, timer or
 * promise per reader per event.
 *
 * A reader whose socket is full is moved aside with one `drain` listener; on `drain` its delivery
 * reads on from the last event it was written (from the execution's tail, or the store if it fell
 * off the tail) and, at the live edge, it joins again. While aside it owes the bytes broadcast
 * since; past the backlog bound (after one turn of the event loop, in which a reader that merely
 * took a burst drains) it is cut, as a delivery cuts a slow reader, and resumes losing nothing.
 * Replay for a new reader stays its delivery's pull until the live edge.
 */
export class Spool implements LiveListener {
  readonly #frames: SharedFrames;
  readonly #operationId: OperationId;
  readonly #onEmpty: () => void;
  readonly #joined = new Set<SpoolReader>();
  readonly #aside = new Set<SpoolReader>();
  #unlisten: (() => void) | null = null;
  #judging = false;
  /** Events heard in this task, broadcast at its end. */
  #pending: Envelope[] = [];
  #scheduled = false;
  #closed = false;
  /** From the first reader: the surface, observer and bound of every reader of this route. */
  #options: Delivery['options'] | null = null;

  constructor(operationId: OperationId, frames: SharedFrames, onEmpty: () => void) {
    this.#operationId = operationId;
    this.#frames = frames;
    this.#onEmpty = onEmpty;
  }

  /**
   * Takes `delivery`'s reader on if it is at the live edge with room; false (nothing changed)
   * otherwise, and the delivery goes on by itself.
   */
  join(stream: ClockedStream, delivery: Delivery, framing: SpoolFraming): SpoolReader | null {
    const { res } = stream;
    if (this.#closed || res.writableNeedDrain || res.destroyed) return null;
    if (framing.admits && !framing.admits(this.#frames)) return null;
    if (!this.#unlisten) {
      // Listening before the delivery stops, so the feed never finds itself without a listener.
      let unlisten: (() => void) | null = null;
      let gone = false;
      this.#unlisten = () => {
        gone = true;
        unlisten?.();
      };
      delivery.options.streams.listen(this.#operationId, this).then(
        (stop) => {
          if (gone) stop();
          else unlisten = stop;
        },
        () => this.onGap(),
      );
    }
    const last = delivery.goLive();
    if (!last) {
      this.#closeIfEmpty();
      return null;
    }
    this.#options ??= delivery.options;
    const reader: SpoolReader = {
      res,
      stream,
      delivery,
      last,
      owed: -1,
      reported: 0,
      onDrain: null,
      framing,
    };
    this.#joined.add(reader);
    delivery.options.observer?.spooled?.(delivery.options.surface);
    return reader;
  }

  /** Lets go of a reader whose stream ended (lifetime, shutdown, the client gone). */
  leave(reader: SpoolReader): void {
    this.#joined.delete(reader);
    if (this.#aside.delete(reader)) this.#settle(reader);
    this.#closeIfEmpty();
  }

  /**
   * Batches that arrive together (every message one read of the store's socket brought) are
   * written as one: the broadcast waits for the end of the current task, a microtask, so under
   * load each reader gets one write per read rather than one per commit, and alone an event
   * waits for nothing.
   */
  onEvents(envelopes: readonly Envelope[]): void {
    const next = envelopes[0];
    if (!next || this.#closed) return;
    const held = this.#pending.at(-1);
    // Only a run of consecutive events goes out as one batch.
    if (held && next.sequence !== held.sequence + 1) this.#flush();
    for (const envelope of envelopes) this.#pending.push(envelope);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    this.#broadcast(batch);
  }

  #broadcast(envelopes: readonly Envelope[]): void {
    const first = envelopes[0];
    const last = envelopes.at(-1);
    if (!first || !last || this.#closed) return;
    const frames = envelopes.map((envelope) => this.#frames.frame(envelope));
    const terminal = envelopes.findIndex(endsExecution);
    // Those aside since an earlier batch owe this one; those moved aside by it owe what they
    // were not written.
    for (const reader of this.#aside) {
      this.#owe(reader, frames, Math.max(0, reader.last.sequence + 1 - first.sequence));
    }
    let written = 0;
    let whole: Buffer | null = null;
    const now = Date.now();
    for (const reader of this.#joined) {
      const from = reader.last.sequence + 1 - first.sequence;
      if (from >= envelopes.length) continue; // had these already
      if (from < 0) {
        // Events between its last and this batch never reached the spool: it reads them itself.
        this.#resume(reader);
        continue;
      }
      if (reader.res.writableNeedDrain) {
        this.#moveAside(reader, frames, from);
        continue;
      }
      const to = terminal === -1 ? frames.length : terminal + 1;
      if (from === 0 && to === frames.length) {
        whole ??= frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
        reader.res.write(whole);
      } else {
        for (let index = from; index < to; index++) reader.res.write(frames[index] as Buffer);
      }
      written += to - from;
      reader.stream.wroteAt = now;
      const sent = envelopes[to - 1] as Envelope;
      reader.last = { sequence: sent.sequence, cursor: sent.cursor };
      if (terminal !== -1) {
        this.#joined.delete(reader);
        reader.delivery.finishLive();
      } else if (reader.res.writableNeedDrain) {
        this.#moveAside(reader, frames, frames.length);
      }
    }
    const options = this.#options;
    if (options && written > 0) {
      // Metrics once per broadcast, not per reader.
      const lag = Math.max(0, (options.now ? options.now() : now) - Date.parse(last.ts));
      options.observer?.delivered?.(options.surface, written, lag);
    }
    this.#closeIfEmpty();
  }

  onGap(): void {
    this.#flush();
    // Notifications may have been lost: every reader reads on by itself, from where it is.
    for (const reader of this.#joined) this.#resume(reader);
    this.#frames.gap?.();
  }

  /** A reader whose socket is full: aside until `drain`, owing what it was not written. */
  #moveAside(reader: SpoolReader, frames: readonly Buffer[], from: number): void {
    this.#joined.delete(reader);
    reader.framing.left?.(this.#frames, reader.last);
    this.#aside.add(reader);
    reader.delivery.options.observer?.movedAside?.(reader.delivery.options.surface);
    reader.owed = 0;
    reader.reported = 0;
    this.#owe(reader, frames, from);
    reader.onDrain = () => {
      if (!this.#aside.delete(reader)) return;
      this.#settle(reader);
      reader.delivery.resumeAfter(reader.last);
      this.#closeIfEmpty();
    };
    reader.res.once('drain', reader.onDrain);
  }

  /** Hands a caught-up reader back to its delivery (a gap, or events the spool never had). */
  #resume(reader: SpoolReader): void {
    this.#joined.delete(reader);
    reader.framing.left?.(this.#frames, reader.last);
    reader.delivery.resumeAfter(reader.last);
  }

  #owe(reader: SpoolReader, frames: readonly Buffer[], from: number): void {
    let bytes = 0;
    for (let index = from; index < frames.length; index++)
      bytes += (frames[index] as Buffer).length;
    if (bytes === 0) return;
    reader.owed += bytes;
    const options = this.#options;
    if (options && reader.owed - reader.reported >= BACKLOG_REPORT_BYTES) {
      options.observer?.backlog?.(options.surface, reader.owed - reader.reported);
      reader.reported = reader.owed;
    }
    if (options && reader.owed > options.maxBacklogBytes) this.#judgeSoon();
  }

  /**
   * Cuts the readers still past the bound after one turn of the event loop: events that come in
   * one go outrun any socket for a moment, and a reader that reads drains within the turn.
   */
  #judgeSoon(): void {
    if (this.#judging) return;
    this.#judging = true;
    setImmediate(() => {
      this.#judging = false;
      const bound = this.#options?.maxBacklogBytes ?? Number.POSITIVE_INFINITY;
      for (const reader of this.#aside) {
        if (reader.owed <= bound) continue;
        this.#aside.delete(reader);
        this.#settle(reader);
        reader.delivery.overflow();
      }
      this.#closeIfEmpty();
    });
  }

  /** A reader leaves the aside set: its listener and what the gauge heard of its debt go. */
  #settle(reader: SpoolReader): void {
    if (reader.onDrain) reader.res.off('drain', reader.onDrain);
    reader.onDrain = null;
    const options = this.#options;
    if (options && reader.reported !== 0) {
      options.observer?.backlog?.(options.surface, -reader.reported);
    }
    reader.owed = -1;
    reader.reported = 0;
  }

  #closeIfEmpty(): void {
    if (this.#joined.size > 0 || this.#aside.size > 0 || this.#closed) return;
    this.#closed = true;
    this.#unlisten?.();
    this.#onEmpty();
  }
}

const spools = new WeakMap<object, Map<OperationId, Spool>>();

/** The spool of one execution for one surface's `framing`: made with its first reader, gone with its last. */
export function spoolFor(framing: SpoolFraming, operationId: OperationId): Spool {
  let byExecution = spools.get(framing.key);
  if (!byExecution) {
    byExecution = new Map();
    spools.set(framing.key, byExecution);
  }
  const existing = byExecution.get(operationId);
  if (existing) return existing;
  const map = byExecution;
  const spool: Spool = new Spool(operationId, framing.framesFor(operationId), () => {
    if (map.get(operationId) === spool) map.delete(operationId);
  });
  map.set(operationId, spool);
  return spool;
}
