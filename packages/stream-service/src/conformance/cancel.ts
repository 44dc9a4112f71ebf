import type { EventDraft, OperationId } from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { cancelExecution } from '../cancel.ts';
import { ExecutionTerminalError, SequenceConflictError } from '../errors.ts';
import type { ExecutionStreams } from '../types.ts';
import { openService, startExecution } from './helpers.ts';
import type { ConformanceTarget } from './target.ts';

const PROGRESS: EventDraft[] = [{ kind: 'execution.progress', payload: { percent: 50 } }];
const COMPLETE: EventDraft[] = [
  { kind: 'execution.result', payload: { output: { done: true } } },
  { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
];

/**
 * An executor appending as fast as the store takes it, each append with `expectedSequence` as
 * the producer API does, until the execution ends; after `completeAfter` appends (when given) it
 * completes the execution itself. Resolves with how it ended.
 */
async function busyWriter(
  streams: ExecutionStreams,
  operationId: OperationId,
  completeAfter: number | null,
): Promise<'completed' | 'stopped'> {
  let { sequence } = await streams.getSnapshot(operationId);
  for (let appended = 0; ; appended++) {
    const completing = appended === completeAfter;
    try {
      const envelopes = await streams.append(operationId, completing ? COMPLETE : PROGRESS, {
        expectedSequence: sequence,
      });
      if (completing) return 'completed';
      sequence = envelopes.at(-1)?.sequence ?? sequence;
    } catch (error) {
      if (error instanceof ExecutionTerminalError) return 'stopped';
      if (!(error instanceof SequenceConflictError)) throw error;
      sequence = (await streams.getSnapshot(operationId)).sequence;
    }
    // Now and then it yields to the event loop, as a store reached over a network always does:
    // the embedded store's calls never do, and a loop of them alone would starve every timer.
    // In between, its calls interleave with the cancel's at every await.
    if (appended % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
  }
}

export function cancelRules(target: ConformanceTarget): void {
  describe('cancelExecution', () => {
    it('always lands under a busy writer, or finds the end the writer reached first (100 runs)', async () => {
      await using streams = await openService(target);
      const outcomes = new Set<string>();
      for (let run = 0; run < 100; run++) {
        const { operationId } = await startExecution(streams);
        // Every other run the writer races to complete on its own after a few appends.
        const completeAfter = run % 2 === 0 ? run % 7 : null;
        const writer = busyWriter(streams, operationId, completeAfter);
        // Called at a different point of the writer's appends each run.
        for (let hop = 0; hop < run % 11; hop++) await Promise.resolve();
        const snapshot = await cancelExecution(streams, operationId, { reason: 'stop' });
        const writerEnd = await writer;
        outcomes.add(snapshot.status);
        expect(snapshot.status).toBe(writerEnd === 'completed' ? 'completed' : 'cancelled');
        expect(await streams.getSnapshot(operationId)).toEqual(snapshot);
      }
      expect(outcomes.has('cancelled')).toBe(true);
    });

    it('returns the snapshot unchanged for an execution that already ended', async () => {
      await using streams = await openService(target);
      const { operationId, producer } = await startExecution(streams);
      await producer.fail({ code: 'BROKE', message: 'it broke' });
      const before = await streams.getSnapshot(operationId);
      expect(await cancelExecution(streams, operationId)).toEqual(before);
      const cancelled = await startExecution(streams);
      const snapshot = await cancelExecution(streams, cancelled.operationId, { reason: 'user' });
      expect(snapshot).toMatchObject({ status: 'cancelled', sequence: 3 });
      expect(await streams.readHistory(cancelled.operationId)).toMatchObject({
        events: expect.arrayContaining([
          expect.objectContaining({
            payload: { from: 'running', to: 'cancelled', reason: 'user' },
          }),
        ]),
      });
    });
  });
}
