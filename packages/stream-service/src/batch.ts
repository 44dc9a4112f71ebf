import {
  assembleSnapshot,
  canTransition,
  type Envelope,
  type EventDraft,
  EventDraftSchema,
  type ExecutionHead,
  foldExecution,
  isTerminalStatus,
  makeEnvelope,
  nextCursors,
  splitSnapshot,
  streamIdOf,
  type TimelineEntry,
} from '@execstream/event-schema';
import { z } from 'zod';
import { ExecutionTerminalError, IllegalTransitionError, InvalidEventError } from './errors.ts';

/** The most events one `append` may carry. */
export const MAX_BATCH_SIZE = 1000;

const BatchSchema = z.object({
  events: z.array(EventDraftSchema).min(1, 'a batch needs at least one event').max(MAX_BATCH_SIZE),
});

/** Parses untrusted drafts; the error names the offending event and field. */
export function parseDrafts(input: unknown): EventDraft[] {
  const parsed = BatchSchema.safeParse({ events: input });
  if (parsed.success) return parsed.data.events;
  throw InvalidEventError.fromZod(parsed.error);
}

/**
 * Checks a batch against the execution's current head (CONTRACT §3) and turns it into envelopes,
 * the head they fold into, and the timeline entries they add. The reducer folds the batch onto
 * the head with an empty timeline, so what it appends there is exactly the new entries. Pure: the
 * caller commits all of it or none.
 */
export function prepareBatch(
  snapshot: ExecutionHead,
  drafts: EventDraft[],
  nowMs: number,
): { envelopes: Envelope[]; head: ExecutionHead; timelineEntries: TimelineEntry[] } {
  if (isTerminalStatus(snapshot.status)) {
    throw new ExecutionTerminalError(snapshot.operationId, snapshot.status);
  }
  checkBatchRules(snapshot, drafts);
  const cursors = nextCursors(snapshot.cursor, drafts.length, nowMs);
  const streamId = streamIdOf(snapshot.operationId);
  const envelopes = drafts.map((draft, index) => {
    const cursor = cursors[index] as string;
    return makeEnvelope({
      streamId,
      cursor,
      sequence: snapshot.sequence + index + 1,
      // The append instant is the id's millisecond part, so `ts` and the cursor never disagree.
      ts: new Date(Number(cursor.slice(0, cursor.indexOf('-')))).toISOString(),
      kind: draft.kind,
      operationId: snapshot.operationId,
      payload: draft.payload,
    }) as Envelope;
  });
  const folded = splitSnapshot(foldExecution(assembleSnapshot(snapshot, []), envelopes));
  return { envelopes, head: folded.head, timelineEntries: folded.timeline };
}

function checkBatchRules(snapshot: ExecutionHead, drafts: EventDraft[]): void {
  let status = snapshot.status;
  drafts.forEach((draft, index) => {
    const next = drafts[index + 1];
    const previous = drafts[index - 1];
    if (isTerminalStatus(status)) {
      throw new InvalidEventError(
        `events[${index}]: nothing may follow the terminal status ${status}`,
      );
    }
    switch (draft.kind) {
      case 'execution.state_changed': {
        const { from, to } = draft.payload;
        if (from !== status || !canTransition(status, to))
          throw new IllegalTransitionError(from, to);
        if (to === 'completed' && previous?.kind !== 'execution.result') {
          throw new InvalidEventError(
            `events[${index}]: completed must directly follow execution.result in the same batch`,
          );
        }
        if (to === 'failed' && previous?.kind !== 'execution.error') {
          throw new InvalidEventError(
            `events[${index}]: failed must directly follow execution.error in the same batch`,
          );
        }
        status = to;
        break;
      }
      case 'execution.result':
        if (!isStateChangeTo(next, 'completed')) {
          throw new InvalidEventError(
            `events[${index}]: execution.result must be directly followed by state_changed to completed`,
          );
        }
        break;
      case 'execution.error':
        if (!draft.payload.retryable && !isStateChangeTo(next, 'failed')) {
          throw new InvalidEventError(
            `events[${index}]: a non-retryable execution.error must be directly followed by state_changed to failed`,
          );
        }
        break;
      default:
        break;
    }
  });
}

function isStateChangeTo(draft: EventDraft | undefined, to: string): boolean {
  return draft?.kind === 'execution.state_changed' && draft.payload.to === to;
}
