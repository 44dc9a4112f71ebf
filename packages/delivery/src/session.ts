import type { ServerResponse } from 'node:http';
import type { Envelope } from '@execstream/event-schema';
import { StoreUnavailableError } from '@execstream/stream-service';
import { type ClockedStream, onClock } from './clock.ts';
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
 * Lifetime and shutdown end the response without waiting for the loop, which may be waiting for
 * a drain that a reader who stopped reading never gives; such a response is reset after the
 * grace period. The client resumes from the last cursor it processed and loses nothing.
 */
export async function runStreamSession(
  res: ServerResponse,
  delivery: Delivery,
  framing: StreamFraming,
  options: StreamSessionOptions,
): Promise<void> {
  res.writeHead(200, framing.headers);
  res.write(framing.preamble);
  let ended = false;
  const stream: ClockedStream = {
    res,
    wroteAt: Date.now(),
    pingIntervalMs: options.pingIntervalMs,
    ping: framing.ping,
    endsAt: Date.now() + options.maxLifetimeMs,
    onLifetime: () => end(),
  };
  using clocked = onClock(stream);
  let live: { spool: Spool; reader: SpoolReader } | null = null;
  const leaveSpool = () => {
    live?.spool.leave(live.reader);
    live = null;
  };
  const end = (frame?: string) => {
    if (ended) return;
    ended = true;
    leaveSpool();
    // No ping after the end: the loop may wait for a drain a stalled reader never gives, and a
    // write after `end()` is an error nobody would catch.
    clocked[Symbol.dispose]();
    delivery.close();
    res.end(frame);
    resetUnlessFinished(res, options.endGraceMs);
  };
  using _shutdown = onShutdown(options.shutdownSignal, () => end(framing.shuttingDown));
  try {
    const operationId = delivery.options.operationId;
    for await (const batch of delivery.batches()) {
      let room = true;
      for (const { envelope } of batch) room = res.write(framing.frame(envelope));
      stream.wroteAt = Date.now();
      if (!room) await drained(res);
      else if (framing.spool && !ended) {
        // At the live edge with room: the spool writes its live events from now on, until its
        // socket fills (then this loop reads on from where the spool left it) or it ends.
        leaveSpool();
        const spool = spoolFor(framing.spool, operationId);
        const reader = spool.join(stream, delivery, framing.spool);
        if (reader) live = { spool, reader };
      }
    }
    // The loop ended by itself: the terminal event went out, unless the reader was dropped.
    if (!res.destroyed) end(framing.completed);
  } catch (error) {
    // Headers are out: all that is left is to drop the connection; the client resumes.
    if (!(error instanceof StoreUnavailableError)) options.onUnexpectedError?.(error);
    ended = true;
    res.destroy();
  } finally {
    leaveSpool();
    delivery.close();
  }
}
