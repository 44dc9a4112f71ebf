import {
  type ExecutionSnapshot,
  isTerminalStatus,
  type OperationId,
} from '@execstream/event-schema';
import { ExecutionTerminalError, IllegalTransitionError, SequenceConflictError } from './errors.ts';
import type { ExecutionStreams } from './types.ts';

export interface CancelOptions {
  /** The `reason` of the `cancelled` state change. @default none */
  reason?: string;
  /**
   * How long to keep trying against writers that keep moving the stream on. Each attempt
   * re-reads the status, so this bounds contention, not correctness.
   * @default 5_000
   */
  timeoutMs?: number;
}

// Pauses between attempts grow to this (ms), with jitter, so a cancel and a busy writer do not
// keep meeting in step.
const MAX_BACKOFF_MS = 50;

/**
 * Cancels an execution on behalf of its owner, however busy its writer is: the cancel is built
 * on the status it reads, appended (the service re-reads the head on every conflicting commit),
 * and when a writer still moves the stream or its status on first, read and tried again after a
 * short pause, until it lands or the execution ends on its own. Resolves with the snapshot after
 * it: `cancelled`, or the terminal status the execution reached by itself.
 *
 * A cancel that lands concurrently with a running executor makes that executor's next append
 * fail with `ExecutionTerminalError`, which tells it to stop.
 *
 * @throws ExecutionNotFoundError, StoreUnavailableError; `SequenceConflictError` only if writers
 *   kept winning for `timeoutMs`.
 */
export async function cancelExecution(
  streams: ExecutionStreams,
  operationId: OperationId,
  options: CancelOptions = {},
): Promise<ExecutionSnapshot> {
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  for (let attempt = 1; ; attempt++) {
    const snapshot = await streams.getSnapshot(operationId);
    if (isTerminalStatus(snapshot.status)) return snapshot;
    try {
      // No expectedSequence: a cancel is valid after any non-terminal event, so only a change of
      // status (checked against `from` at commit) makes it stale, not another progress event.
      await streams.append(operationId, [
        {
          kind: 'execution.state_changed',
          payload:
            options.reason === undefined
              ? { from: snapshot.status, to: 'cancelled' }
              : { from: snapshot.status, to: 'cancelled', reason: options.reason },
        },
      ]);
      return await streams.getSnapshot(operationId);
    } catch (error) {
      // It ended on its own meanwhile: the next read returns that end.
      if (error instanceof ExecutionTerminalError) continue;
      const raced =
        error instanceof SequenceConflictError || error instanceof IllegalTransitionError;
      if (!raced || Date.now() >= deadline) throw error;
    }
    await pause(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
