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
 * The delivery does the resuming (CONTRACT §4); `cursor` is the one it was opened with. When it
 * starts with a snapshot (no cursor, a resync) that snapshot is the base. When it resumes after
 * an event, the base is the execution's snapshot read once the delivery is open: it includes
 * every event the delivery replays up to its sequence, which are read first and given to `open`
 * (their messages, progress and result), so the state a client folds never counts an event twice.
 * Later events follow as `STATE_DELTA`s.
 */
export async function* agUiFrames(
  delivery: Delivery,
  streams: ExecutionStreams,
  operationId: OperationId,
  cursor: string | null,
): AsyncGenerator<string, void, undefined> {
  const run = new AgUiRun(operationId);
  const events = delivery[Symbol.asyncIterator]();
  try {
    // With a cursor, the snapshot now: when it is the cursor's own event, nothing is replayed and
    // the stream opens at once rather than with the next event, which may be long in coming.
    const base = cursor === null ? null : await streams.getSnapshot(operationId);
    let pending: Delivered | null = null;
    if (base !== null && base.cursor === cursor) {
      yield encodeAgUiFrames(run.open(base, []));
    } else {
      const first = await events.next();
      if (first.done) return;
      if (first.value.envelope.kind === 'execution.snapshot') {
        yield encodeAgUiFrames(run.open(first.value.envelope.payload, null));
      } else {
        const opened = await openAfterReplay(
          run,
          base ?? (await streams.getSnapshot(operationId)),
          first.value.envelope,
          events,
        );
        yield encodeAgUiFrames(opened.frames);
        pending = opened.pending;
      }
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
 * Opens a resumed stream at `base`, after reading the replayed events up to its sequence. A
 * snapshot met meanwhile (the events were trimmed while replaying) is a resync: the newer of the
 * two becomes the base, as on a fresh stream. Returns the opening, and an event read past the
 * base, if any, for the caller to map next.
 */
async function openAfterReplay(
  run: AgUiRun,
  base: ExecutionSnapshot,
  first: Envelope,
  events: AsyncIterator<Delivered>,
): Promise<{ frames: AgUiFrame[]; pending: Delivered | null }> {
  const replayed: Envelope[] = [];
  let next: Delivered | null = { envelope: first, data: '' };
  while (next) {
    const { envelope } = next;
    if (envelope.kind === 'execution.snapshot') {
      const newer = envelope.payload.sequence >= base.sequence ? envelope.payload : base;
      return { frames: run.open(newer, null), pending: null };
    }
    if (envelope.sequence > base.sequence)
      return { frames: run.open(base, replayed), pending: next };
    replayed.push(envelope);
    if (envelope.sequence === base.sequence) break;
    const read = await events.next();
    next = read.done ? null : read.value;
  }
  return { frames: run.open(base, replayed), pending: null };
}
