import type {
  ErrorPayload,
  ProgressPayload,
  TimelineAppendedPayload,
} from '@execstream/event-schema';
import type { ExecutionProducer } from '@execstream/stream-service';

/** One producer call of a run. A plan is a list of them, fixed by the execution's record. */
export type Action =
  | { kind: 'start'; reason: string }
  | { kind: 'timeline'; message: string; fields?: Omit<TimelineAppendedPayload, 'message'> }
  | { kind: 'progress'; percent: number; fields?: Omit<ProgressPayload, 'percent'> }
  | { kind: 'awaitUser'; reason: string }
  | { kind: 'retrying'; error: Omit<ErrorPayload, 'retryable'> }
  | { kind: 'complete'; output: Record<string, unknown>; summary: string }
  | { kind: 'fail'; error: Omit<ErrorPayload, 'retryable'> };

/** An action and the pause before it. */
export interface Step {
  delayMs: number;
  action: Action;
}

/** How many events an action appends: its batch is atomic, so a run stops only between them. */
export function eventCountOf(action: Action): number {
  return action.kind === 'retrying' || action.kind === 'complete' || action.kind === 'fail' ? 2 : 1;
}

/**
 * Where a run stands, from the stream alone: the index of the next step, given the sequence of
 * the last event. The first event (`accepted`, sequence 1) precedes every plan. `-1` when the
 * sequence falls inside no step boundary: someone else wrote to the stream, and the plan no
 * longer describes it.
 */
export function nextStepIndex(plan: readonly Step[], sequence: number): number {
  let boundary = 1;
  for (let index = 0; index < plan.length; index++) {
    if (boundary === sequence) return index;
    boundary += eventCountOf((plan[index] as Step).action);
  }
  return boundary === sequence ? plan.length : -1;
}

/** Appends one action through the producer API, as a real worker would. */
export async function perform(producer: ExecutionProducer, action: Action): Promise<void> {
  switch (action.kind) {
    case 'start':
      await producer.start(action.reason);
      return;
    case 'timeline':
      await producer.timeline(action.message, action.fields);
      return;
    case 'progress':
      await producer.progress(action.percent, action.fields);
      return;
    case 'awaitUser':
      await producer.awaitUser(action.reason);
      return;
    case 'retrying':
      await producer.retrying(action.error);
      return;
    case 'complete':
      await producer.complete(action.output, action.summary);
      return;
    case 'fail':
      await producer.fail(action.error);
      return;
  }
}
