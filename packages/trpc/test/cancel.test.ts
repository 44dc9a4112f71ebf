import type { ServerResponse } from 'node:http';
import {
  cancelExecution,
  createMemoryExecutionStreams,
  ExecutionProducer,
  ExecutionTerminalError,
  SequenceConflictError,
  TooManyExecutionsError,
} from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { createAppRouter, toTRPCError } from '../src/index.ts';

const principal = { ownerId: 'owner', credential: 'api-key', credentialId: 'k1' } as const;

describe('v2.executions.cancel', () => {
  it('lands while the executor keeps appending, and answers the snapshot after it', async () => {
    await using streams = createMemoryExecutionStreams();
    const caller = createAppRouter({ streams }).createCaller({
      principal,
      res: {} as ServerResponse,
    });
    for (let run = 0; run < 20; run++) {
      const { record } = await streams.create({ ownerId: 'owner', type: 'swap' });
      const producer = await ExecutionProducer.attach(streams, record.operationId);
      await producer.start();
      const executor = (async () => {
        for (let step = 0; ; step++) {
          try {
            await producer.progress(step % 100);
            // The embedded store never yields to the event loop; a real one always does.
            if (step % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
          } catch (error) {
            if (error instanceof ExecutionTerminalError) return;
            throw error;
          }
        }
      })();
      for (let hop = 0; hop < run % 7; hop++) await Promise.resolve();
      const snapshot = await caller.v2.executions.cancel({ operationId: record.operationId });
      await executor;
      expect(snapshot).toMatchObject({ status: 'cancelled' });
      expect(await streams.getSnapshot(record.operationId)).toEqual(snapshot);
      // Cancelling again changes nothing.
      expect(await caller.v2.executions.cancel({ operationId: record.operationId })).toEqual(
        snapshot,
      );
      expect(await cancelExecution(streams, record.operationId)).toEqual(snapshot);
    }
  });
});

describe('errors at the edge', () => {
  it('never show a conflict sequence numbers; the internal message stays for the logs', () => {
    const conflict = new SequenceConflictError(809, 810);
    const answer = toTRPCError(conflict);
    expect(answer).toMatchObject({
      code: 'CONFLICT',
      message: 'The execution changed meanwhile; retry',
    });
    expect(answer.message).not.toMatch(/\d/);
    expect(answer.cause).toBe(conflict);
    expect(conflict.message).toMatch(/809/);
  });

  it('answer too many executions as TOO_MANY_REQUESTS, the retry hint on the cause', () => {
    const answer = toTRPCError(new TooManyExecutionsError(3, 5));
    expect(answer.code).toBe('TOO_MANY_REQUESTS');
    expect(answer.cause).toMatchObject({ code: 'TOO_MANY_EXECUTIONS', retryAfterSeconds: 5 });
  });
});
