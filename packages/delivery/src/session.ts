import type { ServerResponse } from 'node:http';
import type { Envelope } from '@execstream/event-schema';
import { StoreUnavailableError } from '@execstream/stream-service';
import { type ClockedStream, offClock, onClock } from './clock.ts';
import type { Delivery } from './delivery.ts';
import { resetUnlessFinished } from './finish.ts';
import { onShutdown } from './shutdown.ts';
import { type Spool, type SpoolFraming, type SpoolReader, spoolFor } from './spool.ts';
import { drained } from './timers.ts';

/** What one surface writes on the wire; everything else about a stream is the session's. */
export interface StreamFraming {
  /** The response headers (CONTRACT §5 for SSE). */
  readonly headers: Readonly<Record<string, string>>;
  /** Written right after the headers: `retry:` on the raw route, `connected` on tRPC. */
  readonly preamble: string;
  /** Written every ping interval. */
  readonly ping: string;
  /** An event's frame, encoded once per event (see `frameCache`). */
  frame(envelope: Envelope): Buffer;
  /**
   * How readers at the live edge share one spool per execution (`Spool`): absent, each reader
   * writes its own frames to the end.
   */
  readonly spool?: SpoolFraming;
  /** Written when the stream reached its terminal event by itself (tRPC's `return`). */
  readonly completed?: string;
  /** Written when the server shuts down, before the end (tRPC: a retryable error). */
  readonly shuttingDown?: string;
}

export interface StreamSessionOptions {
  /** How often the framing's ping is written; at most 15 s (CONTRACT §5). */
  pingIntervalMs: number;
  /** How long the response lasts before it ends and the client resumes from its cursor. */
  maxLifetimeMs: number;
  /** How long an ended response may take to reach a reader before its connection is reset. */
  endGraceMs: number;
  /** Aborted on shutdown: the stream ends cleanly so that its client resumes elsewhere. */
  shutdownSignal?: AbortSignal;
  /** Errors that are not an outage, after the headers: logged; the connection is dropped. */
  onUnexpectedError?: (error: unknown) => void;
}

/**
 * One open stream on the wire, the same for every surface: headers and preamble, the delivery's
 * events written as the socket takes them (waiting for `drain`, so the delivery's backlog bound
 * is what a stalled reader holds), pings while it lasts, and its end: at the terminal event, at
 * its lifetime, on shutdown, or dropped (a reader past the backlog bound, the store gone).
 *
 * Lifetime and shutdown end the response without waiting for the writes, which may be waiting
 * for a drain that a reader who stopped reading never gives; such a response is reset after the
 * grace period. The client resumes from the last cursor it processed and loses nothing.
 *
 * Resolves when the stream has ended. An idle stream waits on nothing of its own: it is a
 * callback on its delivery (or a reader of its execution's spool), not a suspended function,
 * so what an open stream holds is a few objects rather than a chain of async frames.
 */
export function runStreamSession(
  res: ServerResponse,
  delivery: Delivery,
  framing: StreamFraming,
  options: StreamSessionOptions,
): Promise<void> {
  return new Promise((resolve) => {
    void new StreamSession(res, delivery, framing, options, resolve).write();
  });
}

/** The session is its own entry on the stream clock (`ClockedStream`): no other object for it. */
class StreamSession implements ClockedStream {
  readonly res: ServerResponse;
  wroteAt: number;
  readonly pingIntervalMs: number;
  readonly ping: string;
  readonly endsAt: number;
  readonly #delivery: Delivery;
  readonly #framing: StreamFraming;
  readonly #options: StreamSessionOptions;
  readonly #done: () => void;
  readonly #shutdown: Disposable;
  /** Set by the delivery once it has something (or ended): the writes go on in a microtask. */
  readonly #wake = () => queueMicrotask(this.write);
  /** The spool writing its live events, and its place there, while it has one. */
  #spool: Spool | null = null;
  #reader: SpoolReader | null = null;
  #ended = false;
  #writing = false;
  #settled = false;

  constructor(
    res: ServerResponse,
    delivery: Delivery,
    framing: StreamFraming,
    options: StreamSessionOptions,
    done: () => void,
  ) {
    this.res = res;
    this.#delivery = delivery;
    this.#framing = framing;
    this.#options = options;
    this.#done = done;
    res.writeHead(200, framing.headers);
    res.write(framing.preamble);
    const now = Date.now();
    this.wroteAt = now;
    this.pingIntervalMs = options.pingIntervalMs;
    this.ping = framing.ping;
    this.endsAt = now + options.maxLifetimeMs;
    onClock(this);
    this.#shutdown = onShutdown(options.shutdownSignal, () => this.end(framing.shuttingDown));
  }

  onLifetime(): void {
    this.end();
  }

  /** Ends the response (lifetime, shutdown, the terminal event) and lets the delivery go. */
  end(frame?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#leaveSpool();
    // No ping after the end: the writes may wait for a drain a stalled reader never gives, and
    // a write after `end()` is an error nobody would catch.
    offClock(this);
    this.#delivery.close();
    this.res.end(frame);
    resetUnlessFinished(this.res, this.#options.endGraceMs);
  }

  /**
   * Writes what the delivery has, batch by batch, until it has nothing (then it wakes this
   * again), the socket is full (then it waits for `drain`), or the delivery ended.
   */
  readonly write = async (): Promise<void> => {
    // One writer at a time: a wake while waiting for a drain finds the loop still running.
    if (this.#writing || this.#settled) return;
    this.#writing = true;
    const res = this.res;
    const framing = this.#framing;
    try {
      for (;;) {
        const batch = this.#delivery.take(this.#wake);
        if (batch === null) {
          // The delivery ended by itself: the terminal event went out, unless the reader was
          // dropped.
          if (!res.destroyed) this.end(framing.completed);
          this.#settle();
          return;
        }
        if (batch.length === 0) return; // woken again when there is more
        let room = true;
        for (const { envelope } of batch) room = res.write(framing.frame(envelope));
        this.wroteAt = Date.now();
        if (!room) await drained(res);
        else if (framing.spool && !this.#ended) {
          // At the live edge with room: the spool writes its live events from now on, until
          // its socket fills (then the delivery reads on from where the spool left it, and
          // wakes this) or it ends.
          this.#leaveSpool();
          const spool = spoolFor(framing.spool, this.#delivery.options.operationId);
          const reader = spool.join(this, this.#delivery, framing.spool);
          if (reader) {
            this.#spool = spool;
            this.#reader = reader;
          }
        }
      }
    } catch (error) {
      // Headers are out: all that is left is to drop the connection; the client resumes.
      if (!(error instanceof StoreUnavailableError)) this.#options.onUnexpectedError?.(error);
      this.#ended = true;
      res.destroy();
      this.#settle();
    } finally {
      this.#writing = false;
    }
  };

  #leaveSpool(): void {
    if (this.#reader) this.#spool?.leave(this.#reader);
    this.#spool = null;
    this.#reader = null;
  }

  /** The session is over: nothing of it stays registered anywhere. */
  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#leaveSpool();
    offClock(this);
    this.#shutdown[Symbol.dispose]();
    this.#delivery.close();
    // A closed delivery's `take` is its end (its metrics told), as leaving an iteration is.
    this.#delivery.take();
    this.#done();
  }
}
