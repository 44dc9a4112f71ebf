import type {
  ErrorPayload,
  ProgressPayload,
  TimelineAppendedPayload,
} from '@execstream/event-schema';
import type { ExecutionProducer } from '@execstream/stream-service';

/** One producer call of a run. A plan is a sequence of them, fixed by the execution's record. */
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

/**
 * The steps of a run, produced on demand: each iteration starts again from the first step and
 * yields the same steps, drawn from the same seed. Never held as an array, so a run holds O(1)
 * memory however many steps it has (`params.simulate.steps` goes up to 10,000).
 */
export type Plan = Iterable<Step>;

/** How many events an action appends: its batch is atomic, so a run stops only between them. */
export function eventCountOf(action: Action): number {
  return action.kind === 'retrying' || action.kind === 'complete' || action.kind === 'fail' ? 2 : 1;
}

/**
 * Where a run stands, from the stream alone, given the sequence of its last event: the index of
 * the next step and the steps from there on. The first event (`accepted`, sequence 1) precedes
 * every plan. `null` when the sequence falls inside no step boundary: someone else wrote to the
 * stream, and the plan no longer describes it. The steps before are produced and dropped, one
 * at a time.
 */
export function resumePlan(
  plan: Plan,
  sequence: number,
): { index: number; rest: Iterable<Step> } | null {
  const steps = plan[Symbol.iterator]();
  let boundary = 1;
  for (let index = 0; boundary <= sequence; index++) {
    if (boundary === sequence) return { index, rest: { [Symbol.iterator]: () => steps } };
    const step = steps.next();
    if (step.done) return null;
    boundary += eventCountOf(step.value.action);
  }
  return null;
}

/** The index of the next step after `sequence` (see `resumePlan`), `-1` when there is none. */
export function nextStepIndex(plan: Plan, sequence: number): number {
  return resumePlan(plan, sequence)?.index ?? -1;
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
