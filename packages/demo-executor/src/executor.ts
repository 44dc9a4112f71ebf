import { hostname } from 'node:os';
import type { ExecutionType, OperationId } from '@execstream/event-schema';
import {
  ExecutionProducer,
  type ExecutionRecord,
  type ExecutionStreams,
  ExecutionTerminalError,
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
   * Names this worker in leases.
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
   * How often unfinished executions are looked for, to continue runs whose worker died.
   * @default 1_000
   */
  pollIntervalMs?: number;
  /**
   * Runs this worker carries at once; more wait for a later poll.
   * @default 2_000
   */
  maxConcurrentRuns?: number;
  logger?: ExecutorLogger;
}

/**
 * Runs submitted executions through realistic steps, as a real worker would: through the
 * producer API, under a lease.
 *
 * A run survives the death of its process because nothing about it lives only in that process:
 * its plan is a pure function of the execution's record (seeded by the operation id), produced
 * step by step, and where it stands is the stream's last sequence. Every instance polls for
 * unfinished executions and takes those whose lease has expired; it replays the plan up to the
 * next step from the snapshot's sequence, and continues. Appends carry `expectedSequence`, so a
 * worker that lost its lease cannot append twice what its successor already did.
 */
export class DemoExecutor {
  readonly #streams: ExecutionStreams;
  readonly #workerId: string;
  readonly #leaseTtlMs: number;
  readonly #pollIntervalMs: number;
  readonly #maxRuns: number;
  readonly #logger: ExecutorLogger | undefined;
  readonly #runs = new Map<OperationId, { abort: AbortController; done: Promise<void> }>();
  readonly #stopping = new AbortController();
  #poller: NodeJS.Timeout | null = null;
  #polling = false;

  constructor(options: DemoExecutorOptions) {
    this.#streams = options.streams;
    this.#workerId =
      options.workerId ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.#leaseTtlMs = options.leaseTtlMs ?? 10_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
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

  /** Starts polling for unfinished executions. */
  start(): void {
    if (this.#poller || this.#stopping.signal.aborted) return;
    this.#poller = setInterval(() => void this.#poll(), this.#pollIntervalMs);
    this.#poller.unref();
    void this.#poll();
  }

  /** @throws InvalidInputError when `params.simulate` is malformed; nothing is created then. */
  validateParams(_type: ExecutionType, params: Record<string, unknown>): void {
    parseSimulate(params);
  }

  /** Starts a new execution at once, rather than at the next poll. */
  submitted(record: ExecutionRecord): void {
    this.#launch(record.operationId);
  }

  /**
   * Stops taking runs, stops the running ones between two steps and releases their leases, so
   * another instance continues them at its next poll rather than after the lease expires.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#poller) clearInterval(this.#poller);
    this.#poller = null;
    const running = [...this.#runs.values()];
    for (const run of running) run.abort.abort();
    await Promise.all(running.map((run) => run.done));
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const unfinished = await this.#streams.listUnfinished({ limit: 100 });
      for (const operationId of unfinished) this.#launch(operationId);
    } catch (error) {
      this.#logger?.warn({ err: error }, 'demo executor: listing unfinished executions failed');
    } finally {
      this.#polling = false;
    }
  }

  #launch(operationId: OperationId): void {
    if (this.#runs.has(operationId) || this.#runs.size >= this.#maxRuns) return;
    if (this.#stopping.signal.aborted) return;
    const abort = new AbortController();
    const done = this.#run(operationId, abort).finally(() => this.#runs.delete(operationId));
    this.#runs.set(operationId, { abort, done });
  }

  async #run(operationId: OperationId, run: AbortController): Promise<void> {
    let leased = false;
    let renewer: NodeJS.Timeout | undefined;
    try {
      leased = await this.#streams.acquireLease(operationId, this.#workerId, this.#leaseTtlMs);
      if (!leased) return;
      renewer = setInterval(async () => {
        const held = await this.#streams
          .acquireLease(operationId, this.#workerId, this.#leaseTtlMs)
          .catch(() => false);
        if (!held) run.abort();
      }, this.#leaseTtlMs / 3);
      await this.#carry(operationId, run.signal);
    } catch (error) {
      if (!(error instanceof ExecutionTerminalError)) {
        this.#logger?.error({ err: error, operationId }, 'demo executor: run stopped by an error');
      }
    } finally {
      clearInterval(renewer);
      if (leased) await this.#streams.releaseLease(operationId, this.#workerId).catch(() => {});
    }
  }

  /** Continues a run from wherever its stream stands. */
  async #carry(operationId: OperationId, signal: AbortSignal): Promise<void> {
    const record = await this.#streams.getRecord(operationId);
    if (!record) return;
    const producer = await ExecutionProducer.attach(this.#streams, operationId);
    const resumed = resumePlan(planOf(record), producer.sequence);
    if (!resumed) {
      await producer.fail({
        code: 'RUN_NOT_RESUMABLE',
        message: 'The stream no longer matches the run, which cannot continue',
      });
      return;
    }
    if (resumed.index > 0) {
      this.#logger?.info({ operationId, step: resumed.index }, 'demo executor: continuing a run');
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
