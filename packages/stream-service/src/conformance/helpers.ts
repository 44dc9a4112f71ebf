import {
  type Envelope,
  type EventDraft,
  type ExecutionSnapshot,
  foldExecution,
  initialSnapshot,
  type OperationId,
  serializeEnvelope,
} from '@execstream/event-schema';
import { ExecutionProducer } from '../producer.ts';
import { createStreamService } from '../service.ts';
import type { ExecutionStreams, ExecutionSubscription } from '../types.ts';
import type { ConformanceServiceOptions, ConformanceTarget } from './target.ts';

/** A service that closes itself at the end of the `await using` scope. */
export async function openService(
  target: ConformanceTarget,
  options?: ConformanceServiceOptions,
): Promise<ExecutionStreams & AsyncDisposable> {
  return (await openStore(target, options)).streams;
}

/** A service and the backend under it; `await using` closes both. */
export async function openStore(target: ConformanceTarget, options?: ConformanceServiceOptions) {
  const backend = await target.backend(options);
  const streams = createStreamService(backend, {
    maxQueuedEvents: options?.maxQueuedEvents,
    pruneIntervalMs: options?.pruneIntervalMs,
    tail: options?.tail,
  });
  return {
    streams: Object.assign(streams, { [Symbol.asyncDispose]: () => streams.close() }),
    backend,
    [Symbol.asyncDispose]: () => streams.close(),
  };
}

/** A new execution taken to `running`, with its producer. */
export async function startExecution(streams: ExecutionStreams, ownerId = 'owner-1') {
  const { record } = await streams.create({ ownerId, type: 'swap' });
  const producer = await ExecutionProducer.attach(streams, record.operationId);
  await producer.start();
  return { operationId: record.operationId, producer };
}

export function timelineDraft(message: string): EventDraft {
  return { kind: 'execution.timeline_appended', payload: { message } };
}

/** Every retained event, oldest first. */
export async function allEvents(streams: ExecutionStreams, operationId: OperationId) {
  const events: Envelope[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await streams.readHistory(operationId, { after, limit: 1000 });
    events.push(...page.events);
    if (!page.nextCursor) return events;
    after = page.nextCursor;
  }
}

/** Reads a subscription to its end (it ends after the terminal event). */
export async function drain(subscription: ExecutionSubscription): Promise<Envelope[]> {
  const events: Envelope[] = [];
  for await (const envelope of subscription) events.push(envelope);
  return events;
}

/** Reads in the background; `events` fills as they arrive, `done` settles when the stream ends. */
export function collect(subscription: ExecutionSubscription) {
  const events: Envelope[] = [];
  const done = (async () => {
    for await (const envelope of subscription) events.push(envelope);
  })();
  return { events, done };
}

/** Reads exactly `count` events, then stops iterating (which releases the subscription). */
export async function take(
  subscription: ExecutionSubscription,
  count: number,
): Promise<Envelope[]> {
  const events: Envelope[] = [];
  if (count === 0) return events;
  for await (const envelope of subscription) {
    events.push(envelope);
    if (events.length === count) break;
  }
  return events;
}

/** Everything observable about a stream: used to prove a rejected call changed nothing. */
export async function observe(streams: ExecutionStreams, operationId: OperationId) {
  const [snapshot, events] = await Promise.all([
    streams.getSnapshot(operationId),
    allEvents(streams, operationId),
  ]);
  return { snapshot, events: events.map(serializeEnvelope) };
}

/** The snapshot a client holds after folding these events onto where it started. */
export function foldFrom(
  start:
    | ExecutionSnapshot
    | { operationId: string; type: ExecutionSnapshot['type']; createdAt: string },
  events: Envelope[],
): ExecutionSnapshot {
  const base = 'status' in start ? start : initialSnapshot(start);
  return foldExecution(base, events);
}

export function sequencesOf(events: Envelope[]): number[] {
  return events.map((event) => event.sequence);
}

/** Resolves once `predicate` holds, polling; rejects with `message` after `timeoutMs`. */
export async function eventually(
  predicate: () => Promise<boolean> | boolean,
  message: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
