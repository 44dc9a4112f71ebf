import { hostname } from 'node:os';
import type { ExecutionType, OperationId } from '@execstream/event-schema';
import {
  type Claim,
  ExecutionProducer,
  type ExecutionRecord,
  type ExecutionStreams,
  ExecutionTerminalError,
  LeaseLostError,
  PRODUCER_LIMITS,
} from '@execstream/stream-service';
import { type Plan, perform, resumePlan } from './plan.ts';
import { scenarioPlan } from './scenarios.ts';
import { parseSimulate, simulatedPlan } from './simulate.ts';

/** What the executor logs through; pino's signatures. */
export interface ExecutorLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DemoExecutorOptions {
  streams: ExecutionStreams;
  /**
   * Names this worker in logs.
   * @default `<hostname>:<pid>:<random>`
   */
  workerId?: string;
  /**
   * How long a lease lasts without renewal: after a worker dies, its runs wait this long before
   * another worker continues them. Renewed every third of it.
   * @default 10_000
   */
  leaseTtlMs?: number;
  /**
   * How long one claim waits for work before it asks again (at most 30 s). Runs submitted in
   * this process are taken at once; those of other processes, and runs whose worker died, are
   * found within `claimPollMs` of the stream service.
   * @default 1_000
   */
  pollIntervalMs?: number;
  /**
   * Runs this worker carries at once; it claims no more until one ends.
   * @default 2_000
   */
  maxConcurrentRuns?: number;
  logger?: ExecutorLogger;
}

/**
 * Runs submitted executions through realistic steps, as any worker does (CONTRACT §12): it
 * claims them with `streams.claim`, renews its leases, and reports through appends fenced by
 * its lease token: the very functions the HTTP producer routes call. So it and external workers
 * compete for runs on equal terms, and a user's cancel stops either (the next append answers
 * `ExecutionTerminalError`).
 *
 * A run survives the death of its process because nothing about it lives only in that process:
 * its plan is a pure function of the execution's record (seeded by the operation id), produced
 * step by step, and where it stands is the stream's last sequence. Once a dead worker's lease
 * expires the run is claimable again; the next worker replays the plan up to the next step from
 * the head's sequence, and continues. The lease fences the old worker out.
 */
export class DemoExecutor {
  readonly #streams: ExecutionStreams;
  readonly #workerId: string;
  readonly #leaseTtlMs: number;
  readonly #waitMs: number;
  readonly #maxRuns: number;
  readonly #logger: ExecutorLogger | undefined;
  readonly #runs = new Map<OperationId, { abort: AbortController; done: Promise<void> }>();
  readonly #stopping = new AbortController();
  #claiming: Promise<void> | null = null;
  /** Resolves the claim loop's wait for a free slot. */
  #slotFreed: (() => void) | null = null;

  constructor(options: DemoExecutorOptions) {
    this.#streams = options.streams;
    this.#workerId =
      options.workerId ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.#leaseTtlMs = options.leaseTtlMs ?? 10_000;
    this.#waitMs = Math.min(options.pollIntervalMs ?? 1_000, PRODUCER_LIMITS.maxWaitMs);
    this.#maxRuns = options.maxConcurrentRuns ?? 2_000;
    this.#logger = options.logger;
  }

  get workerId(): string {
    return this.#workerId;
  }

  /** Runs this worker is carrying now. */
  get activeRuns(): number {
    return this.#runs.size;
  }

  /** Starts claiming executions. */
  start(): void {
    if (this.#claiming || this.#stopping.signal.aborted) return;
    this.#claiming = this.#claimLoop();
  }

  /** @throws InvalidInputError when `params.simulate` is malformed; nothing is created then. */
  validateParams(_type: ExecutionType, params: Record<string, unknown>): void {
    parseSimulate(params);
  }

  /**
   * Stops claiming, stops the running runs between two steps and releases their leases, so
   * another instance continues them at once rather than after the lease expires.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#slotFreed?.();
    const running = [...this.#runs.values()];
    for (const run of running) run.abort.abort();
    await Promise.all([this.#claiming, ...running.map((run) => run.done)]);
  }

  async #claimLoop(): Promise<void> {
    const { signal } = this.#stopping;
    while (!signal.aborted) {
      if (this.#runs.size >= this.#maxRuns) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
        this.#slotFreed = null;
        continue;
      }
      try {
        const claim = await this.#streams.claim({
          leaseMs: this.#leaseTtlMs,
          waitMs: this.#waitMs,
          signal,
        });
        if (!claim) continue;
        if (signal.aborted) {
          await this.#streams.release(claim.record.operationId, claim.lease.token).catch(() => {});
          return;
        }
        this.#launch(claim);
      } catch (error) {
        this.#logger?.warn({ err: error }, 'demo executor: claiming failed');
        await pause(this.#waitMs, signal);
      }
    }
  }

  #launch(claim: Claim): void {
    const { operationId } = claim.record;
    const abort = new AbortController();
    const done = this.#run(claim, abort).finally(() => {
      this.#runs.delete(operationId);
      this.#slotFreed?.();
    });
    this.#runs.set(operationId, { abort, done });
  }

  async #run(claim: Claim, run: AbortController): Promise<void> {
    const { operationId } = claim.record;
    const { token } = claim.lease;
    let renewing = false;
    const renewer = setInterval(async () => {
      if (renewing) return;
      renewing = true;
      try {
        await this.#streams.renewLease(operationId, token, this.#leaseTtlMs);
      } catch (error) {
        // Lost (expired and claimed, or the run ended): stop. A store outage: the next renewal
        // or append tells.
        if (error instanceof LeaseLostError || error instanceof ExecutionTerminalError) run.abort();
      } finally {
        renewing = false;
      }
    }, this.#leaseTtlMs / 3);
    try {
      await this.#carry(claim, run.signal);
    } catch (error) {
      const stopped = error instanceof ExecutionTerminalError || error instanceof LeaseLostError;
      if (!stopped) {
        this.#logger?.error({ err: error, operationId }, 'demo executor: run stopped by an error');
      }
    } finally {
      clearInterval(renewer);
      await this.#streams.release(operationId, token).catch(() => {});
    }
  }

  /** Continues a run from wherever its stream stands. */
  async #carry(claim: Claim, signal: AbortSignal): Promise<void> {
    const { record, lease } = claim;
    const producer = await ExecutionProducer.attach(this.#streams, record.operationId, {
      leaseToken: lease.token,
    });
    const resumed = resumePlan(planOf(record), producer.sequence);
    if (!resumed) {
      await producer.fail({
        code: 'RUN_NOT_RESUMABLE',
        message: 'The stream no longer matches the run, which cannot continue',
      });
      return;
    }
    if (resumed.index > 0) {
      this.#logger?.info(
        { operationId: record.operationId, step: resumed.index },
        'demo executor: continuing a run',
      );
    }
    // One step at a time: the run holds the step it is on, never the plan.
    for (const step of resumed.rest) {
      if (!(await pause(step.delayMs, signal))) return;
      await perform(producer, step.action);
    }
  }
}

/**
 * The plan of an execution: `params.simulate` when given, else a realistic scenario seeded by
 * the operation id. Lazy and re-iterable (see `Plan`).
 */
export function planOf(record: ExecutionRecord): Plan {
  const simulate = parseSimulate(record.params);
  if (simulate) return simulatedPlan(simulate);
  return scenarioPlan(record.type, record.operationId);
}

/** Waits `ms`; false when aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
