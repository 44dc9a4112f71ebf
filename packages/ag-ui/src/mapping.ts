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

/** An opening under way: where its ids stand, and what the resuming client has missed. */
interface Opening {
  cursor: string;
  connection: string;
  frames: number;
  timestamp: number;
  sawProgress: boolean;
  sawResult: boolean;
  /** The canonical event the opening's end comes from: the last replayed, else the snapshot. */
  terminal: Envelope;
}

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
  #opening: Opening | null = null;

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

  /** The step the frames so far leave open, `null` for none. */
  get step(): string | null {
    return this.#step;
  }

  /** Past its opening: every further frame depends only on the event, given `state` and `step`. */
  get following(): boolean {
    return this.#state !== null && this.#opening === null;
  }

  /**
   * Puts the run where another run that followed the same stream stands (after its opening): the
   * frames of the events after `state` are then the same for both.
   */
  follow(state: ExecutionSnapshot, step: string | null): void {
    this.#state = state;
    this.#step = step;
    this.#opening = null;
  }

  /**
   * The frames that open a stream at `base`, at once: `open(base, null)` for a client that holds
   * nothing, `open(base, [])` for one that holds everything up to `base`. The steps of
   * `beginOpening`, `replayed` and `endOpening` in one call.
   */
  open(
    base: ExecutionSnapshot,
    replayed: readonly Envelope[] | null,
    connection?: string,
  ): AgUiFrame[] {
    const frames = this.beginOpening(base, replayed === null, connection);
    for (const envelope of replayed ?? []) frames.push(...this.replayed(envelope));
    frames.push(...this.endOpening());
    return frames;
  }

  /**
   * The first frames of a stream opening at `base`: `RUN_STARTED` and the `STATE_SNAPSHOT`. A
   * client that holds nothing (`fresh`: no cursor, or a resync) also gets the timeline as a
   * `MESSAGES_SNAPSHOT`, and, from `endOpening`, the current progress and result. A resumed one
   * is then handed, through `replayed`, the events after its cursor that `base` includes, one at
   * a time (memory stays flat however many): it gets the text messages, progress and result of
   * those alone, so nothing it rendered before is rendered twice. `connection` tells this
   * opening's frame ids from those of another connection's opening at the same base (8 hex
   * digits, random by default).
   */
  beginOpening(
    base: ExecutionSnapshot,
    fresh: boolean,
    connection: string = randomBytes(4).toString('hex'),
  ): AgUiFrame[] {
    const timestamp = Date.parse(base.updatedAt);
    this.#state = base;
    this.#step = null;
    this.#opening = {
      cursor: base.cursor,
      connection,
      frames: 0,
      timestamp,
      sawProgress: fresh,
      sawResult: fresh,
      terminal: snapshotEnvelope(base),
    };
    const events: AGUIEvent[] = [
      { type: EventType.RUN_STARTED, timestamp, threadId: this.threadId, runId: this.runId },
      {
        type: EventType.STATE_SNAPSHOT,
        timestamp,
        snapshot: base,
        rawEvent: snapshotEnvelope(base),
      },
    ];
    if (fresh) events.push(this.#messages(base, timestamp));
    return this.#openingFrames(events);
  }

  /** The frames of an event the opening's base includes and the resuming client missed. */
  replayed(envelope: Envelope): AgUiFrame[] {
    const opening = this.#opening;
    if (!opening) throw new Error('AgUiRun.replayed outside an opening');
    opening.terminal = envelope;
    if (envelope.kind === 'execution.progress') opening.sawProgress = true;
    if (envelope.kind === 'execution.result') opening.sawResult = true;
    if (envelope.kind !== 'execution.timeline_appended') return [];
    return this.#openingFrames(this.#textMessage(envelope));
  }

  /** The last frames of an opening: the current step, progress and result, and the end. */
  endOpening(): AgUiFrame[] {
    const opening = this.#opening;
    const base = this.#state;
    if (!(opening && base)) throw new Error('AgUiRun.endOpening outside an opening');
    const { timestamp } = opening;
    const events: AGUIEvent[] = [];
    const terminal = isTerminalStatus(base.status);
    if (!terminal) this.#moveToStep(currentStep(base), events, timestamp);
    if (base.progress && opening.sawProgress) {
      events.push(this.#progress(base.progress, timestamp));
    }
    if (base.result && opening.sawResult) events.push(this.#result(base.result, timestamp));
    // From the terminal event when it was replayed, else from the snapshot that holds it.
    if (terminal) events.push(this.#end(base, timestamp, opening.terminal));
    const frames = this.#openingFrames(events);
    this.#opening = null;
    return frames;
  }

  #openingFrames(events: AGUIEvent[]): AgUiFrame[] {
    const opening = this.#opening as Opening;
    return events.map((event) => ({
      id: `${opening.cursor}/s${opening.frames++}-${opening.connection}`,
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
