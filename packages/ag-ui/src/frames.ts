import type { StreamFraming } from '@execstream/delivery';
import { SSE_HEADERS } from '@execstream/delivery';
import {
  type Envelope,
  type ExecutionSnapshot,
  encodeSseFrame,
  SSE_PING_FRAME,
} from '@execstream/event-schema';
import type { AgUiFrame, AgUiRun } from './mapping.ts';

/** AG-UI frames as SSE: `id:` then one `data:` line of the event's JSON (no `event:` line). */
export function encodeAgUiFrames(frames: readonly AgUiFrame[]): string {
  let text = '';
  for (const { id, event } of frames) text += encodeSseFrame({ id, data: JSON.stringify(event) });
  return text;
}

/**
 * The framing of one AG-UI response over the stream session: SSE headers, `retry:` first, `: ping`
 * while idle, and each event's AG-UI frames, written together. Until its opening is over the
 * frames depend on what this reader holds, so they are made per reader; at the live edge the
 * route puts the reader in its execution's spool, whose frames every reader there shares
 * (`AgUiLiveFrames`).
 *
 * The delivery does the resuming (CONTRACT §4); `cursor` is the one it was opened with, and
 * `base` the execution's snapshot read once it was open (`null` without a cursor):
 * - the cursor is `base`'s own event: nothing is replayed, and the stream opens at once, in the
 *   preamble, rather than with the next event, which may be long in coming;
 * - the delivery starts with a snapshot (no cursor, a resync): that snapshot is the opening;
 * - it replays the events after the cursor: `base` includes those up to its sequence, which go
 *   into the opening one by one (their messages, progress and result; never held together), so
 *   the state a client folds never counts an event twice.
 * Later events follow as `STATE_DELTA`s and the rest (`AgUiRun.next`).
 */
export function agUiFraming(
  run: AgUiRun,
  stream: { retryFrame: string; cursor: string | null; base: ExecutionSnapshot | null },
): StreamFraming {
  const { base } = stream;
  const atBase = base !== null && base.cursor === stream.cursor;
  let phase: 'start' | 'replaying' | 'live' = atBase ? 'live' : 'start';
  const framesOf = (envelope: Envelope): AgUiFrame[] => {
    if (phase === 'start') {
      if (envelope.kind === 'execution.snapshot') {
        phase = 'live';
        return run.open(envelope.payload, null);
      }
      // Without a cursor the delivery always starts with a snapshot.
      if (!base) throw new Error('A replay without the snapshot it resumes to');
      phase = 'replaying';
      return [...run.beginOpening(base, false), ...framesOf(envelope)];
    }
    if (phase === 'replaying' && base) {
      if (envelope.kind !== 'execution.snapshot' && envelope.sequence <= base.sequence) {
        const frames = run.replayed(envelope);
        if (envelope.sequence < base.sequence) return frames;
        phase = 'live';
        return [...frames, ...run.endOpening()];
      }
      // Past the base, or a resync snapshot (the events were trimmed while replaying).
      phase = 'live';
      return [...run.endOpening(), ...run.next(envelope)];
    }
    return run.next(envelope);
  };
  return {
    headers: SSE_HEADERS,
    preamble: stream.retryFrame + (atBase ? encodeAgUiFrames(run.open(base, [])) : ''),
    ping: SSE_PING_FRAME,
    frame: (envelope) => Buffer.from(encodeAgUiFrames(framesOf(envelope)), 'utf8'),
  };
}
