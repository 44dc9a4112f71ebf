import type { Delivered, Delivery } from '@execstream/delivery';
import { encodeSseFrame, type OperationId } from '@execstream/event-schema';
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
 * every event the delivery replays up to its sequence, which go into the opening one by one
 * (their messages, progress and result, never held together), so the state a client folds never
 * counts an event twice. Later events follow as `STATE_DELTA`s.
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
        // A resume: the replayed events up to the base go into the opening, one at a time.
        const opening = base ?? (await streams.getSnapshot(operationId));
        yield encodeAgUiFrames(run.beginOpening(opening, false));
        let next: Delivered | null = first.value;
        while (next) {
          const { envelope } = next;
          // Past the base (it cannot be, but the stream is the truth), or a resync snapshot met
          // meanwhile (the events were trimmed while replaying): mapped after the opening.
          if (envelope.sequence > opening.sequence || envelope.kind === 'execution.snapshot') {
            pending = next;
            break;
          }
          const frames = run.replayed(envelope);
          if (frames.length > 0) yield encodeAgUiFrames(frames);
          if (envelope.sequence === opening.sequence) break;
          const read = await events.next();
          next = read.done ? null : read.value;
        }
        yield encodeAgUiFrames(run.endOpening());
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
