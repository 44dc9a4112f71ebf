import { type Envelope, EXECUTION_TYPES } from '@execstream/event-schema';
import {
  cancelExecution,
  createMemoryExecutionStreams,
  ExecutionProducer,
  type ExecutionStreams,
  InvalidInputError,
} from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { DemoExecutor, eventCountOf, nextStepIndex, perform, planOf } from '../src/index.ts';

async function allEvents(streams: ExecutionStreams, operationId: string): Promise<Envelope[]> {
  return (await streams.readHistory(operationId, { limit: 1000 })).events;
}

async function untilTerminal(streams: ExecutionStreams, operationId: string): Promise<void> {
  const subscription = await streams.subscribe(operationId, { cursor: '0' });
  for await (const _ of subscription) {
    // Drained: the subscription ends after the terminal event.
  }
}

describe('params.simulate', () => {
  it('runs exactly: running, `steps` progress events, then the outcome', async () => {
    await using streams = createMemoryExecutionStreams();
    const executor = new DemoExecutor({ streams, pollIntervalMs: 60_000 });
    const { record } = await streams.create({
      ownerId: 'o',
      type: 'swap',
      params: { simulate: { steps: 3, intervalMs: 0, outcome: 'failed' } },
    });
    executor.start();
    await untilTerminal(streams, record.operationId);
    await executor.stop();
    const events = await allEvents(streams, record.operationId);
    expect(events.map((event) => [event.kind, event.payload])).toEqual([
      ['execution.state_changed', { from: null, to: 'accepted' }],
      [
        'execution.state_changed',
        { from: 'accepted', to: 'running', reason: 'Simulation started' },
      ],
      ['execution.progress', { percent: 33, step: 'simulate', message: 'Step 1 of 3' }],
      ['execution.progress', { percent: 66, step: 'simulate', message: 'Step 2 of 3' }],
      ['execution.progress', { percent: 100, step: 'simulate', message: 'Step 3 of 3' }],
      [
        'execution.error',
        {
          code: 'SIMULATED_FAILURE',
          message: 'The run failed as params.simulate.outcome asked',
          retryable: false,
        },
      ],
      [
        'execution.state_changed',
        {
          from: 'running',
          to: 'failed',
          reason: 'The run failed as params.simulate.outcome asked',
        },
      ],
    ]);
  });

  it('rejects malformed simulate parameters with the field named', () => {
    const executor = new DemoExecutor({ streams: createMemoryExecutionStreams() });
    for (const [simulate, message] of [
      [{ steps: 0 }, /params\.simulate\.steps/],
      [{ steps: 10_001 }, /params\.simulate\.steps/],
      [{ intervalMs: -1 }, /params\.simulate\.intervalMs/],
      [{ outcome: 'cancelled' }, /params\.simulate\.outcome/],
      [{ speed: 2 }, /params\.simulate/],
      ['fast', /params\.simulate/],
    ] as const) {
      expect(() => executor.validateParams('swap', { simulate })).toThrow(InvalidInputError);
      expect(() => executor.validateParams('swap', { simulate })).toThrow(message);
    }
    expect(() => executor.validateParams('swap', {})).not.toThrow();
  });
});

describe('realistic plans', () => {
  it('are fixed by the record, and a swap quotes, awaits approval, submits with a hash, confirms', () => {
    for (const type of EXECUTION_TYPES) {
      for (let index = 0; index < 20; index++) {
        const record = {
          operationId: `op_plan${type}${index}`,
          ownerId: 'o',
          type,
          params: {},
          createdAt: new Date(0).toISOString(),
          idempotencyKey: null,
        };
        const plan = [...planOf(record)];
        expect([...planOf(record)]).toEqual(plan);
        const last = plan.at(-1)?.action.kind;
        expect(last === 'complete' || last === 'fail').toBe(true);
        if (type === 'swap') {
          const kinds = plan.map((step) => step.action.kind);
          expect(kinds).toContain('awaitUser');
          expect(plan.some((s) => s.action.kind === 'timeline' && s.action.fields?.txHash)).toBe(
            true,
          );
          expect(kinds.filter((kind) => kind === 'progress').length).toBeGreaterThanOrEqual(6);
        }
      }
    }
  });

  it('finds the next step from a sequence, and refuses one that falls inside no boundary', () => {
    const plan = planOf({
      operationId: 'op_boundaries',
      ownerId: 'o',
      type: 'swap',
      params: { simulate: { steps: 2, intervalMs: 0 } },
      createdAt: new Date(0).toISOString(),
      idempotencyKey: null,
    });
    expect([...plan].map((step) => eventCountOf(step.action))).toEqual([1, 1, 1, 2]);
    expect([1, 2, 3, 4, 6].map((sequence) => nextStepIndex(plan, sequence))).toEqual([
      0, 1, 2, 3, 4,
    ]);
    expect(nextStepIndex(plan, 5)).toBe(-1);
  });
});

describe('a run whose worker died', () => {
  it('is continued by another worker from its snapshot once the lease expires, step for step', async () => {
    await using streams = createMemoryExecutionStreams();
    const { record } = await streams.create({
      ownerId: 'o',
      type: 'bridge',
      params: { simulate: { steps: 6, intervalMs: 5 } },
    });
    const plan = planOf(record);
    // The first worker took the lease, did three steps, and vanished without releasing it.
    expect(await streams.acquireLease(record.operationId, 'dead-worker', 300)).toBe(true);
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    for (const step of [...plan].slice(0, 3)) await perform(producer, step.action);

    const survivor = new DemoExecutor({ streams, leaseTtlMs: 300, pollIntervalMs: 50 });
    survivor.start();
    await untilTerminal(streams, record.operationId);
    await survivor.stop();
    const events = await allEvents(streams, record.operationId);
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    expect(events.length).toBe(6 + 4);
    expect(events.filter((event) => event.kind === 'execution.progress')).toHaveLength(6);
    expect(events.at(-1)?.payload).toMatchObject({ to: 'completed' });
  });
});

describe('one producer path', () => {
  it('leaves a run another worker claimed alone, takes it once released, and stops on a cancel', async () => {
    await using streams = createMemoryExecutionStreams();
    const { record } = await streams.create({
      ownerId: 'o',
      type: 'swap',
      params: { simulate: { steps: 1000, intervalMs: 20 } },
    });
    // Another worker (an HTTP one, say) claims it first.
    const other = await streams.claim({ leaseMs: 60_000 });
    expect(other?.record.operationId).toBe(record.operationId);
    const executor = new DemoExecutor({ streams, leaseTtlMs: 60_000, pollIntervalMs: 20 });
    executor.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(executor.activeRuns).toBe(0);
    expect((await streams.getSnapshot(record.operationId)).sequence).toBe(1);
    await streams.release(record.operationId, other?.lease.token as string);
    for (;;) {
      const snapshot = await streams.getSnapshot(record.operationId);
      if (snapshot.progress !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(executor.activeRuns).toBe(1);
    await cancelExecution(streams, record.operationId);
    for (;;) {
      if (executor.activeRuns === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const events = await allEvents(streams, record.operationId);
    expect(events.at(-1)?.payload).toMatchObject({ to: 'cancelled' });
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    await executor.stop();
  });
});
