import type {
  Envelope,
  ErrorPayload,
  EventDraft,
  ExecutionStatus,
  OperationId,
  ProgressPayload,
  TimelineAppendedPayload,
} from '@execstream/event-schema';
import { ExecutionTerminalError, SequenceConflictError, StoreUnavailableError } from './errors.ts';
import type { ExecutionStreams } from './types.ts';

export interface ProducerOptions {
  /**
   * Attempts per append when the store is unavailable or a concurrent writer moved the stream.
   * @default 5
   */
  maxAttempts?: number;
  /**
   * First delay between attempts; doubles each time.
   * @default 100
   */
  retryDelayMs?: number;
  /**
   * The lease token of the claim this producer works under: every append is fenced by it, and
   * `LeaseLostError` (never retried) tells the worker another one holds the run now.
   * @default none: appends are not fenced
   */
  leaseToken?: string;
}

/**
 * The producer API: what a worker running an execution calls to report it. Each method appends
 * one batch with `expectedSequence`, so a retried append can never land twice: after a failure
 * whose outcome is unknown (the store went away mid-call), the producer checks whether its batch
 * is already in the stream before sending it again.
 *
 * A concurrent writer (a user's cancel) moves the stream on; the producer re-reads the head and
 * rebuilds its batch against the new status, so `ExecutionTerminalError` tells the worker to stop.
 */
export class ExecutionProducer {
  readonly operationId: OperationId;
  readonly #streams: ExecutionStreams;
  readonly #maxAttempts: number;
  readonly #retryDelayMs: number;
  readonly #leaseToken: string | undefined;
  #status: ExecutionStatus;
  #sequence: number;
  #cursor: string;

  private constructor(
    streams: ExecutionStreams,
    operationId: OperationId,
    head: { status: ExecutionStatus; sequence: number; cursor: string },
    options: ProducerOptions,
  ) {
    this.#streams = streams;
    this.operationId = operationId;
    this.#status = head.status;
    this.#sequence = head.sequence;
    this.#cursor = head.cursor;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#leaseToken = options.leaseToken;
  }

  /** A producer for an existing execution, starting from its current head. */
  static async attach(
    streams: ExecutionStreams,
    operationId: OperationId,
    options: ProducerOptions = {},
  ): Promise<ExecutionProducer> {
    const snapshot = await streams.getSnapshot(operationId);
    return new ExecutionProducer(streams, operationId, snapshot, options);
  }

  get status(): ExecutionStatus {
    return this.#status;
  }

  get sequence(): number {
    return this.#sequence;
  }

  /** `accepted`/`awaiting_user`/`retrying` → `running`. */
  start(reason?: string): Promise<Envelope[]> {
    return this.#append(() => [this.#transition('running', reason)]);
  }

  timeline(
    message: string,
    fields: Omit<TimelineAppendedPayload, 'message'> = {},
  ): Promise<Envelope[]> {
    return this.#append(() => [
      { kind: 'execution.timeline_appended', payload: { message, ...fields } },
    ]);
  }

  progress(percent: number, fields: Omit<ProgressPayload, 'percent'> = {}): Promise<Envelope[]> {
    return this.#append(() => [{ kind: 'execution.progress', payload: { percent, ...fields } }]);
  }

  awaitUser(reason?: string): Promise<Envelope[]> {
    return this.#append(() => [this.#transition('awaiting_user', reason)]);
  }

  /** Reports a retryable error and moves to `retrying`; call `start()` when the retry begins. */
  retrying(error: Omit<ErrorPayload, 'retryable'>): Promise<Envelope[]> {
    return this.#append(() => [
      { kind: 'execution.error', payload: { ...error, retryable: true } },
      this.#transition('retrying', error.message),
    ]);
  }

  complete(output: Record<string, unknown>, summary?: string): Promise<Envelope[]> {
    return this.#append(() => [
      {
        kind: 'execution.result',
        payload: summary === undefined ? { output } : { output, summary },
      },
      this.#transition('completed'),
    ]);
  }

  fail(error: Omit<ErrorPayload, 'retryable'> & { retryable?: boolean }): Promise<Envelope[]> {
    return this.#append(() => [
      { kind: 'execution.error', payload: { ...error, retryable: error.retryable ?? false } },
      this.#transition('failed', error.message),
    ]);
  }

  cancel(reason?: string): Promise<Envelope[]> {
    return this.#append(() => [this.#transition('cancelled', reason)]);
  }

  #transition(to: ExecutionStatus, reason?: string): EventDraft {
    return {
      kind: 'execution.state_changed',
      payload:
        reason === undefined ? { from: this.#status, to } : { from: this.#status, to, reason },
    };
  }

  async #append(build: () => EventDraft[]): Promise<Envelope[]> {
    // Set when a call failed without telling whether it stored the batch (the store went away).
    let outcomeUnknown = false;
    let stale = false;
    for (let attempt = 1; ; attempt++) {
      try {
        // Every read here can fail too while the store is down: all of it is retried.
        if (stale) {
          await this.#refresh();
          stale = false;
        }
        const drafts = build();
        if (outcomeUnknown) {
          const landed = await this.#findLanded(drafts);
          if (landed) return this.#advance(landed);
          outcomeUnknown = false;
        }
        // The producer API's append: what HTTP workers call too.
        const { envelopes } = await this.#streams.appendBatch(this.operationId, drafts, {
          expectedSequence: this.#sequence,
          ...(this.#leaseToken === undefined ? {} : { leaseToken: this.#leaseToken }),
        });
        return this.#advance(envelopes);
      } catch (error) {
        // The run ended (a user's cancel): learn how, so `status` tells the caller.
        if (error instanceof ExecutionTerminalError) await this.#refresh().catch(() => {});
        if (attempt >= this.#maxAttempts) throw error;
        if (error instanceof StoreUnavailableError) outcomeUnknown = true;
        else if (error instanceof SequenceConflictError) stale = !outcomeUnknown;
        else throw error;
        await delay(this.#retryDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  /**
   * After an unknown outcome: our batch, if it is what follows our last known cursor. `null`
   * means it did not land (with `expectedSequence` it could only have landed right there).
   */
  async #findLanded(drafts: EventDraft[]): Promise<Envelope[] | null> {
    const { events } = await this.#streams.readHistory(this.operationId, {
      after: this.#cursor,
      limit: drafts.length,
    });
    const matches =
      events.length === drafts.length &&
      events.every(
        (event, index) =>
          event.sequence === this.#sequence + index + 1 &&
          event.kind === drafts[index]?.kind &&
          JSON.stringify(event.payload) === JSON.stringify(drafts[index]?.payload),
      );
    if (matches) return events;
    if (events.length > 0) await this.#refresh();
    return null;
  }

  async #refresh(): Promise<void> {
    const snapshot = await this.#streams.getSnapshot(this.operationId);
    this.#status = snapshot.status;
    this.#sequence = snapshot.sequence;
    this.#cursor = snapshot.cursor;
  }

  #advance(envelopes: Envelope[]): Envelope[] {
    const last = envelopes.at(-1);
    if (last) {
      this.#sequence = last.sequence;
      this.#cursor = last.cursor;
    }
    for (const envelope of envelopes) {
      if (envelope.kind === 'execution.state_changed') this.#status = envelope.payload.to;
    }
    return envelopes;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
