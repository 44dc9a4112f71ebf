import type { Delivered, Delivery } from '@execstream/delivery';
import {
  type Envelope,
  type ExecutionSnapshot,
  encodeSseFrame,
  type OperationId,
} from '@execstream/event-schema';
import type { ExecutionStreams } from '@execstream/stream-service';
import { type AgUiFrame, AgUiRun } from './mapping.ts';

/** AG-UI frames as SSE: `id:` then one `data:` line of the event's JSON (no `event:` line). */
export function encodeAgUiFrames(frames: readonly AgUiFrame[]): string {
  let text = '';
  for (const { id, event } of frames) text += encodeSseFrame({ id, data: JSON.stringify(event) });
  return text;
}

/**
 * The AG-UI stream of one delivery: the opening at the point the delivery starts from, then the
 * frames of every later event. Yields one string per canonical event (all its frames), so the
 * transport writes them together.
 *
 * The delivery does the resuming (CONTRACT §4). When it starts with a snapshot (no cursor, a
 * resync) that snapshot is the base. When it replays the events after the client's cursor, the
 * base is the execution's snapshot read once the delivery is open: it includes every event the
 * delivery has replayed or will hand over up to its sequence, which are read first and given to
 * `open` (their messages, progress and result), so the state a client folds never counts an event
 * twice. Later events follow as `STATE_DELTA`s.
 */
export async function* agUiFrames(
  delivery: Delivery,
  streams: ExecutionStreams,
  operationId: OperationId,
): AsyncGenerator<string, void, undefined> {
  const run = new AgUiRun(operationId);
  const events = delivery[Symbol.asyncIterator]();
  try {
    const first = await events.next();
    if (first.done) return;
    let pending: Delivered | null = null;
    if (first.value.envelope.kind === 'execution.snapshot') {
      yield encodeAgUiFrames(run.open(first.value.envelope.payload, null));
    } else {
      const opened = await openAfterReplay(run, first.value.envelope, events, streams);
      yield encodeAgUiFrames(opened.frames);
      pending = opened.pending;
    }
    if (pending) {
      const frames = run.next(pending.envelope);
      if (frames.length > 0) yield encodeAgUiFrames(frames);
    }
    for (let next = await events.next(); !next.done; next = await events.next()) {
      const frames = run.next(next.value.envelope);
      if (frames.length > 0) yield encodeAgUiFrames(frames);
    }
  } finally {
    await events.return?.();
  }
}

/**
 * Opens a resumed stream: reads the execution's snapshot, then the replayed events up to its
 * sequence. A snapshot met meanwhile (the events were trimmed while replaying) is a resync: it
 * becomes the base, as on a fresh stream. Returns the opening, and an event read past the base,
 * if any, for the caller to map next.
 */
async function openAfterReplay(
  run: AgUiRun,
  first: Envelope,
  events: AsyncIterator<Delivered>,
  streams: ExecutionStreams,
): Promise<{ frames: AgUiFrame[]; pending: Delivered | null }> {
  const base: ExecutionSnapshot = await streams.getSnapshot(run.operationId);
  const replayed: Envelope[] = [first];
  while ((replayed.at(-1)?.sequence ?? 0) < base.sequence) {
    const next = await events.next();
    if (next.done) break;
    const { envelope } = next.value;
    if (envelope.kind === 'execution.snapshot') {
      const newer = envelope.payload.sequence >= base.sequence ? envelope.payload : base;
      return { frames: run.open(newer, null), pending: null };
    }
    if (envelope.sequence > base.sequence) {
      return { frames: run.open(base, replayed), pending: next.value };
    }
    replayed.push(envelope);
  }
  return { frames: run.open(base, replayed), pending: null };
}
