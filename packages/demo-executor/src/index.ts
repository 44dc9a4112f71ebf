export { DemoExecutor, type DemoExecutorOptions, type ExecutorLogger, planOf } from './executor.ts';
export {
  type Action,
  eventCountOf,
  nextStepIndex,
  type Plan,
  perform,
  resumePlan,
  type Step,
} from './plan.ts';
export { parseSimulate, type Simulate, SimulateSchema, simulatedPlan } from './simulate.ts';
