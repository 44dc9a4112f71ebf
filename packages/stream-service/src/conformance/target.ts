import type { StreamBackend, StreamServiceOptions } from '../types.ts';

/** Settings a conformance test asks of a fresh service. */
export interface ConformanceServiceOptions
  extends Pick<StreamServiceOptions, 'maxQueuedEvents' | 'pruneIntervalMs' | 'tail'> {
  /** Events retained per execution. */
  maxEventsPerStream?: number;
  /** How long a terminal execution lives on. */
  terminalTtlMs?: number;
}

/** A backend under test. */
export interface ConformanceTarget {
  /** Shown in test names, e.g. `memory`, `redis`, `redis-cluster`. */
  name: string;
  /**
   * A fresh, empty backend; the suite builds the service on it with `createStreamService`, as
   * every store does, and closes it when each test ends. The suite touches the backend itself
   * only to leave it as a process that died between two steps would.
   */
  backend(options?: ConformanceServiceOptions): Promise<StreamBackend>;
  /**
   * Randomised replay-to-live hand-over runs.
   * @default 300
   */
  handoverRuns?: number;
}
