import { InvalidInputError } from '@execstream/stream-service';
import { z } from 'zod';
import type { Plan } from './plan.ts';

/** `params.simulate` (CONTRACT §8): a deterministic run for tests and demos. */
export const SimulateSchema = z.strictObject({
  /** @default 5 */
  steps: z.number().int().min(1).max(10_000).default(5),
  /** @default 200 */
  intervalMs: z.number().int().min(0).max(60_000).default(200),
  /** @default 'completed' */
  outcome: z.enum(['completed', 'failed']).default('completed'),
});
export type Simulate = z.infer<typeof SimulateSchema>;

// Parsed where it sits in the submit input, so errors name the field from there.
const SimulateParamsSchema = z.object({ params: z.object({ simulate: SimulateSchema }) });

/** `params.simulate` parsed, `null` when absent. @throws InvalidInputError */
export function parseSimulate(params: Record<string, unknown>): Simulate | null {
  if (params.simulate === undefined) return null;
  const parsed = SimulateParamsSchema.safeParse({ params: { simulate: params.simulate } });
  if (parsed.success) return parsed.data.params.simulate;
  throw InvalidInputError.fromZod(parsed.error);
}

/**
 * Exactly: `running`, then `steps` progress events, then the outcome (result + `completed`, or
 * error + `failed`), each after `intervalMs`. With the first `accepted` event a run has
 * `steps + 4` events and lasts about `(steps + 2) × intervalMs`. Each step is made when it is
 * reached, from its index alone.
 */
export function simulatedPlan(simulate: Simulate): Plan {
  return {
    *[Symbol.iterator]() {
      const { steps, intervalMs, outcome } = simulate;
      yield { delayMs: intervalMs, action: { kind: 'start', reason: 'Simulation started' } };
      for (let step = 1; step <= steps; step++) {
        yield {
          delayMs: intervalMs,
          action: {
            kind: 'progress',
            percent: Math.floor((step * 100) / steps),
            fields: { step: 'simulate', message: `Step ${step} of ${steps}` },
          },
        };
      }
      yield {
        delayMs: intervalMs,
        action:
          outcome === 'completed'
            ? { kind: 'complete', output: { steps }, summary: `Simulated ${steps} steps` }
            : {
                kind: 'fail',
                error: {
                  code: 'SIMULATED_FAILURE',
                  message: 'The run failed as params.simulate.outcome asked',
                },
              },
      };
    },
  };
}
