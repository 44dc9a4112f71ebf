import type { ExecutionStreams, StreamServiceOptions } from '../types.ts';

/** Settings a conformance test asks of a fresh service. */
export interface ConformanceServiceOptions extends Pick<StreamServiceOptions, 'maxQueuedEvents'> {
  /** Events retained per execution. */
  maxEventsPerStream?: number;
  /** How long a terminal execution lives on. */
  terminalTtlMs?: number;
}

/** A backend under test. */
export interface ConformanceTarget {
  /** Shown in test names, e.g. `memory`, `redis`, `redis-cluster`. */
  name: string;
  /** A fresh, empty service; the suite closes it when each test ends. */
  create(options?: ConformanceServiceOptions): Promise<ExecutionStreams>;
  /**
   * Randomised replay-to-live hand-over runs.
   * @default 300
   */
  handoverRuns?: number;
}
