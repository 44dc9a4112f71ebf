import { createMemoryExecutionStreams, type ExecutionRecord } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { DemoExecutor, type Plan, resumePlan, type Step, simulatedPlan } from '../src/index.ts';

/** The heap in use once garbage is collected; vitest.config.ts runs this file with --expose-gc. */
function liveHeapBytes(): number {
  if (!globalThis.gc) throw new Error('globalThis.gc is missing: run node with --expose-gc');
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** A plan that counts the steps it has produced. */
function counted(plan: Plan): { plan: Plan; produced: () => number } {
  let produced = 0;
  return {
    plan: {
      *[Symbol.iterator]() {
        for (const step of plan) {
          produced++;
          yield step;
        }
      },
    },
    produced: () => produced,
  };
}

describe('memory per run', () => {
  it('a plan produces its steps on demand, also when a run resumes', () => {
    const { plan, produced } = counted(
      simulatedPlan({ steps: 10_000, intervalMs: 0, outcome: 'completed' }),
    );
    const resumed = resumePlan(plan, 5);
    expect(resumed?.index).toBe(4);
    expect(produced()).toBe(4);
    const next: Step[] = [];
    for (const step of resumed?.rest ?? []) {
      next.push(step);
      if (next.length === 2) break;
    }
    expect(next.map((step) => step.action)).toMatchObject([
      { kind: 'progress', fields: { message: 'Step 4 of 10000' } },
      { kind: 'progress', fields: { message: 'Step 5 of 10000' } },
    ]);
    expect(produced()).toBe(6);
    // A sequence past the end is found out without holding what came before.
    expect(resumePlan(plan, 10_005)).toBeNull();
    expect(resumePlan(plan, 10_004)?.index).toBe(10_002);
  });

  it('stays under 50 KB per idle run of 10,000 steps, 300 runs at once', async () => {
    await using streams = createMemoryExecutionStreams();
    const executor = new DemoExecutor({ streams, pollIntervalMs: 600_000, leaseTtlMs: 600_000 });
    const runs = 300;
    const records: ExecutionRecord[] = [];
    for (let index = 0; index < runs; index++) {
      const { record } = await streams.create({
        ownerId: 'o',
        type: 'swap',
        params: { simulate: { steps: 10_000, intervalMs: 60_000 } },
      });
      records.push(record);
    }
    const before = liveHeapBytes();
    executor.start();
    // On the embedded store a run goes from taking its lease to waiting out its first pause
    // without yielding to the event loop: once every lease is held, every run is idle.
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const probes = await Promise.all(
        records.map((record) => streams.acquireLease(record.operationId, 'probe', 1)),
      );
      if (probes.every((taken) => !taken)) break;
    }
    expect(executor.activeRuns).toBe(runs);
    const perRun = (liveHeapBytes() - before) / runs;
    // The whole plan of one such run, held as an array, takes about 2.4 MB.
    expect(perRun).toBeLessThan(50 * 1024);
    await executor.stop();
    expect(executor.activeRuns).toBe(0);
  });
});
