import { START_CURSOR } from './cursor.ts';
import type { Envelope } from './envelope.ts';
import type { ExecutionSnapshot, TimelineAppendedPayload, TimelineEntry } from './payloads.ts';
import { type ExecutionType, isTerminalStatus } from './status.ts';

/**
 * The one reducer of execstream. The stores fold events with it to materialise snapshots, and
 * clients fold the events that follow a hydrated snapshot with it, so both hold the same state
 * (CONTRACT §3). Pure: the input snapshot is never mutated.
 */
export function reduceExecution(
  snapshot: ExecutionSnapshot,
  envelope: Envelope,
): ExecutionSnapshot {
  return foldExecution(snapshot, [envelope]);
}

/** Folds many envelopes at once; equal to reducing them one by one, without copying per event. */
export function foldExecution(
  snapshot: ExecutionSnapshot,
  envelopes: Iterable<Envelope>,
): ExecutionSnapshot {
  let next: ExecutionSnapshot = { ...snapshot, timeline: [...snapshot.timeline] };
  for (const envelope of envelopes) {
    if (envelope.kind === 'execution.snapshot') {
      // A snapshot stands in for every event up to its cursor: adopt it whole.
      next = { ...envelope.payload, timeline: [...envelope.payload.timeline] };
      continue;
    }
    applyInPlace(next, envelope);
  }
  return next;
}

/**
 * A snapshot without its timeline: everything an append needs to decide and fold a batch. The
 * timeline only ever grows at its end, so stores keep it apart and appends stay O(batch) however
 * long an execution's timeline gets.
 */
export type ExecutionHead = Omit<ExecutionSnapshot, 'timeline'>;

export function splitSnapshot(snapshot: ExecutionSnapshot): {
  head: ExecutionHead;
  timeline: TimelineEntry[];
} {
  const { timeline, ...head } = snapshot;
  return { head, timeline };
}

/** A head and its timeline as one snapshot, keys in schema order (it serialises identically). */
export function assembleSnapshot(
  head: ExecutionHead,
  timeline: TimelineEntry[],
): ExecutionSnapshot {
  return {
    operationId: head.operationId,
    type: head.type,
    status: head.status,
    createdAt: head.createdAt,
    updatedAt: head.updatedAt,
    finishedAt: head.finishedAt,
    progress: head.progress,
    timeline,
    result: head.result,
    error: head.error,
    sequence: head.sequence,
    cursor: head.cursor,
  };
}

/**
 * The state of an execution before its first event. Its `type` and `createdAt` come from the
 * execution's record, not from events: the first event, `state_changed {from: null, to:
 * "accepted"}`, carries neither.
 */
export function initialSnapshot(fields: {
  operationId: string;
  type: ExecutionType;
  createdAt: string;
}): ExecutionSnapshot {
  return {
    operationId: fields.operationId,
    type: fields.type,
    status: 'accepted',
    createdAt: fields.createdAt,
    updatedAt: fields.createdAt,
    finishedAt: null,
    progress: null,
    timeline: [],
    result: null,
    error: null,
    sequence: 0,
    cursor: START_CURSOR,
  };
}

function applyInPlace(
  next: ExecutionSnapshot,
  envelope: Exclude<Envelope, { kind: 'execution.snapshot' }>,
): void {
  switch (envelope.kind) {
    case 'execution.state_changed': {
      const { to } = envelope.payload;
      next.status = to;
      if (isTerminalStatus(to)) next.finishedAt = envelope.ts;
      // Back to running means the retry (or the user) resolved the last error.
      if (to === 'running') next.error = null;
      break;
    }
    case 'execution.timeline_appended':
      next.timeline.push(timelineEntry(envelope.sequence, envelope.ts, envelope.payload));
      break;
    case 'execution.progress':
      next.progress = { ...envelope.payload };
      break;
    case 'execution.result':
      next.result = { ...envelope.payload };
      break;
    case 'execution.error':
      next.error = { ...envelope.payload };
      break;
  }
  next.updatedAt = envelope.ts;
  next.sequence = envelope.sequence;
  next.cursor = envelope.cursor;
}

function timelineEntry(
  sequence: number,
  ts: string,
  payload: TimelineAppendedPayload,
): TimelineEntry {
  const entry: TimelineEntry = { sequence, ts, message: payload.message };
  if (payload.level !== undefined) entry.level = payload.level;
  if (payload.step !== undefined) entry.step = payload.step;
  if (payload.txHash !== undefined) entry.txHash = payload.txHash;
  if (payload.chainId !== undefined) entry.chainId = payload.chainId;
  if (payload.data !== undefined) entry.data = payload.data;
  return entry;
}
