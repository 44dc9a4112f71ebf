import type { SharedFrames } from '@execstream/delivery';
import type { Envelope, ExecutionSnapshot, OperationId } from '@execstream/event-schema';
import { encodeAgUiFrames } from './frames.ts';
import { AgUiRun } from './mapping.ts';

// How many events back a reader leaving the spool may be put: more than a batch holds in practice.
const HISTORY = 64;

const NOTHING = Buffer.alloc(0);

/**
 * The AG-UI frames of one execution's live events, made once and shared by every AG-UI reader in
 * its spool. Past its opening a reader's frames depend only on the event, given the state and the
 * step its run holds, so one run that follows the stream makes them for all: no reader diffs a
 * snapshot of its own. A reader joins only when its run stands where this one does; on leaving,
 * its run is put where it stopped, and it makes its own frames again.
 */
export class AgUiLiveFrames implements SharedFrames {
  readonly #operationId: OperationId;
  #run: AgUiRun;
  #frames = new WeakMap<Envelope, Buffer>();
  /** Where the run stood after each of its last events, oldest first. */
  #history: { sequence: number; state: ExecutionSnapshot; step: string | null }[] = [];

  constructor(operationId: OperationId) {
    this.#operationId = operationId;
    this.#run = new AgUiRun(operationId);
  }

  /** Whether `run` may take these frames from now on: it stands where they follow from. */
  admits(run: AgUiRun): boolean {
    const state = run.state;
    if (!(run.following && state)) return false;
    const mine = this.#run.state;
    if (mine === null) {
      // The first reader sets where the frames follow from.
      this.#run.follow(state, run.step);
      this.#remember();
      return true;
    }
    return mine.sequence === state.sequence && this.#run.step === run.step;
  }

  frame(envelope: Envelope): Buffer {
    const cached = this.#frames.get(envelope);
    if (cached) return cached;
    const state = this.#run.state;
    // Before where the frames follow from (every reader had it), or before anyone joined.
    if (!state || envelope.sequence <= state.sequence) return NOTHING;
    if (envelope.sequence !== state.sequence + 1) {
      // Events were missed: no reader is written these (each reads on by itself), and the next
      // to join sets where the frames follow from.
      this.gap();
      return NOTHING;
    }
    const frame = Buffer.from(encodeAgUiFrames(this.#run.next(envelope)), 'utf8');
    this.#frames.set(envelope, frame);
    this.#remember();
    return frame;
  }

  /**
   * Puts `run` where these frames stood after event `sequence`, the last its reader was written.
   * @returns false when that is too far back to know
   */
  restore(run: AgUiRun, sequence: number): boolean {
    const at = this.#history.find((entry) => entry.sequence === sequence);
    if (!at) return false;
    run.follow(at.state, at.step);
    return true;
  }

  gap(): void {
    this.#run = new AgUiRun(this.#operationId);
    this.#frames = new WeakMap();
    this.#history = [];
  }

  #remember(): void {
    const state = this.#run.state as ExecutionSnapshot;
    this.#history.push({ sequence: state.sequence, state, step: this.#run.step });
    if (this.#history.length > HISTORY) this.#history.shift();
  }
}
