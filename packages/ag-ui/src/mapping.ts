import { randomBytes } from 'node:crypto';
import { type AGUIEvent, EventType, type JsonPatch, type Message } from '@ag-ui/core';
import {
  type Envelope,
  type EnvelopeOf,
  type ExecutionSnapshot,
  isTerminalStatus,
  type OperationId,
  reduceExecution,
  snapshotEnvelope,
  streamIdOf,
} from '@execstream/event-schema';
// The default import: the package's `main` is CommonJS, whose named exports Node cannot see.
import jsonPatch from 'fast-json-patch';

/**
 * The `CUSTOM` event names TanStack AI's generation client reads (`GENERATION_EVENTS` of
 * `@tanstack/ai-client`): progress as `{progress, message?}`, the result as the value itself.
 */
export const GENERATION_PROGRESS = 'generation:progress';
export const GENERATION_RESULT = 'generation:result';

/** The `code` of the `RUN_ERROR` that ends a cancelled execution. */
export const CANCELLED_CODE = 'CANCELLED';

/** One AG-UI event and the `id:` of its frame. */
export interface AgUiFrame {
  id: string;
  event: AGUIEvent;
}

/**
 * The AG-UI projection of one execution's stream (CONTRACT §10), for one connection.
 *
 * It holds the state a client holds, the `ExecutionSnapshot`, and turns each canonical event
 * into the AG-UI events of its change: a `STATE_DELTA` (the RFC 6902 patch, computed by
 * `fast-json-patch`, from the snapshot before to the snapshot after, folded with the shared
 * reducer), step changes, text messages, TanStack's `CUSTOM` progress and result, and the end
 * of the run. The same base and events give the same events, whatever the connection.
 *
 * Frame ids (docs/ag-ui.md): each canonical event becomes a group of frames; the group's last
 * frame has the event's cursor as its id, and the frames before it `<cursor>/<n>`; the frames
 * that open a stream have `<cursor of the base>/s<n>-<connection>`. Every id is unique (TanStack
 * de-duplicates frames by id, and counts a reconnect that brings no new id as one that failed)
 * and every one resumes: the route reads the cursor before the `/`.
 */
export class AgUiRun {
  readonly operationId: OperationId;
  readonly threadId: string;
  readonly runId: string;
  #state: ExecutionSnapshot | null = null;
  #step: string | null = null;

  constructor(operationId: OperationId) {
    this.operationId = operationId;
    // The thread is the execution's stream, the run the operation: both derived, so every
    // connection to one execution, fresh or resumed, is the same thread and run.
    this.threadId = streamIdOf(operationId);
    this.runId = operationId;
  }

  /** The snapshot the frames so far bring a client to; `null` before `open`. */
  get state(): ExecutionSnapshot | null {
    return this.#state;
  }

  /**
   * The frames that open a stream at `base`: `RUN_STARTED`, the `STATE_SNAPSHOT`, then what a
   * client needs to render that point. `replayed` is `null` when the client holds nothing
   * (no cursor, or a resync): it gets the timeline as a `MESSAGES_SNAPSHOT` and the current
   * progress and result. On a resume it is the events after the client's cursor that `base`
   * includes: it gets the text messages, progress and result of those events alone, so nothing
   * it rendered before is rendered twice. `connection` tells this opening's frame ids from those
   * of another connection's opening at the same base (8 hex digits, random by default).
   */
  open(
    base: ExecutionSnapshot,
    replayed: readonly Envelope[] | null,
    connection: string = randomBytes(4).toString('hex'),
  ): AgUiFrame[] {
    const timestamp = Date.parse(base.updatedAt);
    const events: AGUIEvent[] = [
      { type: EventType.RUN_STARTED, timestamp, threadId: this.threadId, runId: this.runId },
      {
        type: EventType.STATE_SNAPSHOT,
        timestamp,
        snapshot: base,
        rawEvent: snapshotEnvelope(base),
      },
    ];
    if (replayed === null) {
      events.push(this.#messages(base, timestamp));
    } else {
      for (const envelope of replayed) {
        if (envelope.kind === 'execution.timeline_appended') {
          events.push(...this.#textMessage(envelope));
        }
      }
    }
    this.#state = base;
    this.#step = null;
    const terminal = isTerminalStatus(base.status);
    if (!terminal) this.#moveToStep(currentStep(base), events, timestamp);
    const saw = (kind: Envelope['kind']) =>
      replayed === null || replayed.some((envelope) => envelope.kind === kind);
    if (base.progress && saw('execution.progress')) {
      events.push(this.#progress(base.progress, timestamp));
    }
    if (base.result && saw('execution.result')) events.push(this.#result(base.result, timestamp));
    if (terminal) {
      // From the terminal event when it was replayed, else from the snapshot that holds it.
      const last = replayed?.at(-1);
      events.push(this.#end(base, timestamp, last ?? snapshotEnvelope(base)));
    }
    return events.map((event, index) => ({
      id: `${base.cursor}/s${index}-${connection}`,
      event,
    }));
  }

  /**
   * The frames of one event after the base. An event the state already includes gives none
   * (its sequence is not after the state's); a snapshot (a resync in the middle of a stream)
   * replaces the state whole.
   */
  next(envelope: Envelope): AgUiFrame[] {
    const before = this.#state;
    if (!before) throw new Error('AgUiRun.next before open');
    if (envelope.sequence <= before.sequence) return [];
    if (envelope.kind === 'execution.snapshot') return this.#rebase(envelope);
    const after = reduceExecution(before, envelope);
    this.#state = after;
    const timestamp = Date.parse(envelope.ts);
    const events: AGUIEvent[] = [
      {
        type: EventType.STATE_DELTA,
        timestamp,
        delta: statePatch(before, after),
        rawEvent: envelope,
      },
    ];
    switch (envelope.kind) {
      case 'execution.timeline_appended':
        this.#moveToStep(envelope.payload.step ?? this.#step, events, timestamp);
        events.push(...this.#textMessage(envelope));
        break;
      case 'execution.progress':
        this.#moveToStep(envelope.payload.step ?? this.#step, events, timestamp);
        events.push(this.#progress(envelope.payload, timestamp));
        break;
      case 'execution.result':
        events.push(this.#result(envelope.payload, timestamp));
        break;
      case 'execution.state_changed':
        if (isTerminalStatus(envelope.payload.to)) {
          this.#moveToStep(null, events, timestamp);
          events.push(this.#end(after, timestamp, envelope));
        }
        break;
      case 'execution.error':
        break;
    }
    return groupFrames(envelope.cursor, events);
  }

  #rebase(envelope: EnvelopeOf<'execution.snapshot'>): AgUiFrame[] {
    const snapshot = envelope.payload;
    this.#state = snapshot;
    const timestamp = Date.parse(envelope.ts);
    const events: AGUIEvent[] = [
      { type: EventType.STATE_SNAPSHOT, timestamp, snapshot, rawEvent: envelope },
      this.#messages(snapshot, timestamp),
    ];
    const terminal = isTerminalStatus(snapshot.status);
    this.#moveToStep(terminal ? null : currentStep(snapshot), events, timestamp);
    if (snapshot.progress) events.push(this.#progress(snapshot.progress, timestamp));
    if (snapshot.result) events.push(this.#result(snapshot.result, timestamp));
    if (terminal) events.push(this.#end(snapshot, timestamp, envelope));
    return groupFrames(envelope.cursor, events);
  }

  /** Closes the open step and opens `step`, when they differ. */
  #moveToStep(step: string | null, events: AGUIEvent[], timestamp: number): void {
    if (step === this.#step) return;
    if (this.#step !== null) {
      events.push({ type: EventType.STEP_FINISHED, timestamp, stepName: this.#step });
    }
    if (step !== null) events.push({ type: EventType.STEP_STARTED, timestamp, stepName: step });
    this.#step = step;
  }

  #messageId(sequence: number): string {
    return `${this.operationId}:timeline:${sequence}`;
  }

  /** The timeline of a snapshot as the messages a client holds: one assistant message each. */
  #messages(snapshot: ExecutionSnapshot, timestamp: number): AGUIEvent {
    return {
      type: EventType.MESSAGES_SNAPSHOT,
      timestamp,
      messages: snapshot.timeline.map(
        (entry): Message => ({
          id: this.#messageId(entry.sequence),
          role: 'assistant',
          content: entry.message,
        }),
      ),
    };
  }

  #textMessage(envelope: EnvelopeOf<'execution.timeline_appended'>): AGUIEvent[] {
    const messageId = this.#messageId(envelope.sequence);
    const timestamp = Date.parse(envelope.ts);
    return [
      { type: EventType.TEXT_MESSAGE_START, timestamp, messageId, role: 'assistant' },
      {
        type: EventType.TEXT_MESSAGE_CONTENT,
        timestamp,
        messageId,
        delta: envelope.payload.message,
      },
      { type: EventType.TEXT_MESSAGE_END, timestamp, messageId },
    ];
  }

  #progress(progress: { percent: number; message?: string }, timestamp: number): AGUIEvent {
    return {
      type: EventType.CUSTOM,
      timestamp,
      name: GENERATION_PROGRESS,
      value:
        progress.message === undefined
          ? { progress: progress.percent }
          : { progress: progress.percent, message: progress.message },
    };
  }

  #result(result: ExecutionSnapshot['result'], timestamp: number): AGUIEvent {
    return { type: EventType.CUSTOM, timestamp, name: GENERATION_RESULT, value: result };
  }

  /**
   * `RUN_FINISHED` with the output for a completed execution; `RUN_ERROR` for a failed one
   * (the error's code and message) and a cancelled one (`CANCELLED`). `envelope`, carried as
   * `rawEvent`, is the canonical event it comes from: the terminal event, or the snapshot that
   * holds it.
   */
  #end(state: ExecutionSnapshot, timestamp: number, envelope: Envelope): AGUIEvent {
    const raw = { rawEvent: envelope };
    if (state.status === 'completed') {
      return {
        type: EventType.RUN_FINISHED,
        timestamp,
        threadId: this.threadId,
        runId: this.runId,
        ...(state.result ? { result: state.result.output } : {}),
        ...raw,
      };
    }
    if (state.status === 'cancelled') {
      return {
        type: EventType.RUN_ERROR,
        timestamp,
        message: 'The execution was cancelled',
        code: CANCELLED_CODE,
        ...raw,
      };
    }
    return {
      type: EventType.RUN_ERROR,
      timestamp,
      message: state.error?.message || 'The execution failed',
      code: state.error?.code ?? 'FAILED',
      ...raw,
    };
  }
}

/** The step a snapshot is in: that of its last timeline entry naming one, else its progress'. */
export function currentStep(snapshot: ExecutionSnapshot): string | null {
  for (let index = snapshot.timeline.length - 1; index >= 0; index--) {
    const step = snapshot.timeline[index]?.step;
    if (step !== undefined) return step;
  }
  return snapshot.progress?.step ?? null;
}

/**
 * The RFC 6902 patch from one snapshot to the next. `compare` only ever emits `add`, `remove` and
 * `replace` operations (its `_get` is an operation of its own `applyPatch`, never generated).
 */
function statePatch(before: ExecutionSnapshot, after: ExecutionSnapshot): JsonPatch {
  return jsonPatch.compare(before, after) as JsonPatch;
}

/** The frames of one event: `<cursor>/<n>` before the last, the cursor itself on the last. */
function groupFrames(cursor: string, events: AGUIEvent[]): AgUiFrame[] {
  return events.map((event, index) => ({
    id: index === events.length - 1 ? cursor : `${cursor}/${index}`,
    event,
  }));
}
