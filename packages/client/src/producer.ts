import type {
  ErrorPayload,
  ExecutionStatus,
  ExecutionType,
  ProgressPayload,
  TimelineAppendedPayload,
} from '@execstream/event-schema';
import { ExecstreamError, fetchOf, retryAfterOf, send, urlOf } from './http.ts';

export interface ProducerOptions {
  /** The server's origin, e.g. `https://api.example.com`. */
  baseUrl: string | URL;
  /** A producer key (`esp_…`, or one of `EXECSTREAM_PRODUCER_KEYS`). */
  producerKey: string;
  /** Claim only executions of these types. @default every type */
  types?: ExecutionType[];
  /**
   * How long a claim's lease lasts; renewed every third of it while the run is held.
   * @default 30_000
   */
  leaseMs?: number;
  /**
   * How long one claim waits for work (long poll, at most 30 s).
   * @default 20_000
   */
  waitMs?: number;
  /**
   * Attempts per call when the server is unreachable, answers 5xx or 429 (appends are safe to
   * retry: each carries its own `Idempotency-Key`).
   * @default 6
   */
  maxAttempts?: number;
  /**
   * First pause between attempts, doubled each time (a 429's `Retry-After` wins).
   * @default 200
   */
  retryDelayMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Where an append left the execution. */
export interface AppendResult {
  sequence: number;
  cursor: string;
  status: ExecutionStatus;
}

/** A draft event: what a producer appends (CONTRACT §3, `execution.snapshot` excluded). */
export interface ProducerEvent {
  kind: string;
  payload: Record<string, unknown>;
}

/** An execution this worker holds the lease of. */
export interface ClaimedRun {
  operationId: string;
  ownerId: string;
  type: ExecutionType;
  params: Record<string, unknown>;
  /** The status as this worker last knew it (updated by its appends). */
  readonly status: ExecutionStatus;
  /** The sequence as this worker last knew it. */
  readonly sequence: number;
  /**
   * Aborted when the run must stop: its lease was lost (another worker holds it now) or it
   * ended without this worker (a user's cancel). Pass it to whatever the run waits on.
   */
  signal: AbortSignal;
  /**
   * Appends a batch, fenced by the lease, with a new `Idempotency-Key` (or `idempotencyKey`,
   * to make a step idempotent across workers), retried on transient failures.
   * @throws ExecstreamError: `LEASE_LOST` or `EXECUTION_TERMINAL` (stop), `INVALID_EVENT`, ...
   */
  append(events: ProducerEvent[], options?: { idempotencyKey?: string }): Promise<AppendResult>;
  /** `accepted`/`awaiting_user`/`retrying` → `running`; nothing when already running. */
  start(reason?: string): Promise<AppendResult | null>;
  progress(percent: number, fields?: Omit<ProgressPayload, 'percent'>): Promise<AppendResult>;
  timeline(
    message: string,
    fields?: Omit<TimelineAppendedPayload, 'message'>,
  ): Promise<AppendResult>;
  complete(output: Record<string, unknown>, summary?: string): Promise<AppendResult>;
  fail(error: Omit<ErrorPayload, 'retryable'>): Promise<AppendResult>;
  /** Gives the lease back, so another worker may claim the run at once. */
  release(): Promise<void>;
}

export interface ExecstreamProducer {
  /** Creates an execution for an owner (idempotent on `operationId`). */
  create(input: {
    operationId?: string;
    ownerId: string;
    type: ExecutionType;
    params?: Record<string, unknown>;
  }): Promise<{ operationId: string; status: 'accepted'; sequence: number; cursor: string }>;
  /** One claim (long poll): a run, with its lease renewed until it ends or is released. */
  claim(signal?: AbortSignal): Promise<ClaimedRun | null>;
  /**
   * Claims runs and hands each to `handler`, at most `concurrency` at once, until `signal`
   * aborts. A run the handler leaves unfinished is released for another worker.
   */
  work(
    handler: (run: ClaimedRun) => Promise<void>,
    options?: {
      signal?: AbortSignal;
      /** @default 1 */
      concurrency?: number;
      /**
       * Told of a handler's failure (the run is then released for another worker), except a
       * run that had to stop (`LEASE_LOST`, `EXECUTION_TERMINAL`).
       * @default console.error
       */
      onError?: (error: unknown, run: ClaimedRun) => void;
    },
  ): Promise<void>;
}

interface ClaimAnswer {
  operationId: string;
  ownerId: string;
  type: ExecutionType;
  params: Record<string, unknown>;
  status: ExecutionStatus;
  sequence: number;
  cursor: string;
  lease: { token: string; expiresAt: string };
}

const TERMINAL: readonly string[] = ['completed', 'failed', 'cancelled'];

/**
 * A worker of the HTTP producer API (CONTRACT §12) in TypeScript: claims with leases renewed in
 * the background, appends fenced by the lease and made safe to retry by `Idempotency-Key`.
 */
export function createProducer(options: ProducerOptions): ExecstreamProducer {
  const fetchImpl = fetchOf(options);
  const leaseMs = options.leaseMs ?? 30_000;
  const waitMs = options.waitMs ?? 20_000;
  const maxAttempts = options.maxAttempts ?? 6;
  const retryDelayMs = options.retryDelayMs ?? 200;

  /** One call, retried while the failure is transient; the answer's JSON (`null` for 204). */
  async function call(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<{ status: number; body: unknown }> {
    for (let attempt = 1; ; attempt++) {
      let failure: ExecstreamError;
      try {
        const response = await send(fetchImpl, urlOf(options.baseUrl, path), {
          method,
          headers: {
            'x-api-key': options.producerKey,
            'content-type': 'application/json',
            ...headers,
          },
          body: JSON.stringify(body),
          signal: signal ?? null,
        });
        const text = await response.text();
        const parsed = text === '' ? null : (JSON.parse(text) as unknown);
        if (response.ok) return { status: response.status, body: parsed };
        const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
        failure = new ExecstreamError(
          error?.code ?? 'INVALID_RESPONSE',
          error?.message ?? `${method} ${path} answered ${response.status}`,
          { status: response.status, retryAfterSeconds: retryAfterOf(response) },
        );
      } catch (error) {
        if (!(error instanceof ExecstreamError)) throw error;
        failure = error;
      }
      if (!failure.transient || attempt >= maxAttempts) throw failure;
      const pause = failure.retryAfterSeconds
        ? failure.retryAfterSeconds * 1000
        : retryDelayMs * 2 ** (attempt - 1);
      await delay(pause, signal);
    }
  }

  function held(claim: ClaimAnswer): ClaimedRun {
    const { operationId } = claim;
    const base = `/v1/producer/executions/${encodeURIComponent(operationId)}`;
    const stop = new AbortController();
    let status = claim.status;
    let sequence = claim.sequence;
    const lost = (error: unknown) =>
      error instanceof ExecstreamError &&
      ['LEASE_LOST', 'EXECUTION_TERMINAL', 'EXECUTION_NOT_FOUND'].includes(error.code);
    const renewer = setInterval(() => {
      call('PUT', `${base}/lease`, { token: claim.lease.token, leaseMs }).catch((error) => {
        if (lost(error)) stop.abort(error);
      });
    }, leaseMs / 3);
    stop.signal.addEventListener('abort', () => clearInterval(renewer), { once: true });

    const append: ClaimedRun['append'] = async (events, appendOptions = {}) => {
      try {
        const { body } = await call(
          'POST',
          `${base}/events`,
          { events, leaseToken: claim.lease.token },
          { 'idempotency-key': appendOptions.idempotencyKey ?? globalThis.crypto.randomUUID() },
        );
        const result = body as AppendResult;
        status = result.status;
        sequence = result.sequence;
        if (TERMINAL.includes(status)) stop.abort();
        return result;
      } catch (error) {
        if (lost(error)) stop.abort(error);
        throw error;
      }
    };
    const transition = (to: ExecutionStatus, reason?: string): ProducerEvent => ({
      kind: 'execution.state_changed',
      payload: reason === undefined ? { from: status, to } : { from: status, to, reason },
    });
    return {
      operationId,
      ownerId: claim.ownerId,
      type: claim.type,
      params: claim.params,
      get status() {
        return status;
      },
      get sequence() {
        return sequence;
      },
      signal: stop.signal,
      append,
      start: async (reason) =>
        status === 'running' ? null : append([transition('running', reason)]),
      progress: (percent, fields = {}) =>
        append([{ kind: 'execution.progress', payload: { percent, ...fields } }]),
      timeline: (message, fields = {}) =>
        append([{ kind: 'execution.timeline_appended', payload: { message, ...fields } }]),
      complete: (output, summary) =>
        append([
          {
            kind: 'execution.result',
            payload: summary === undefined ? { output } : { output, summary },
          },
          transition('completed'),
        ]),
      fail: (error) =>
        append([
          { kind: 'execution.error', payload: { ...error, retryable: false } },
          transition('failed', error.message),
        ]),
      async release() {
        stop.abort();
        await call('DELETE', `${base}/lease`, { token: claim.lease.token }).catch((error) => {
          if (!lost(error)) throw error;
        });
      },
    };
  }

  const producer: ExecstreamProducer = {
    async create(input) {
      return (await call('POST', '/v1/producer/executions', input)).body as never;
    },

    async claim(signal) {
      const { status, body } = await call(
        'POST',
        '/v1/producer/claims',
        { leaseMs, waitMs, ...(options.types ? { types: options.types } : {}) },
        {},
        signal,
      );
      return status === 204 ? null : held(body as ClaimAnswer);
    },

    async work(handler, workOptions = {}) {
      const { signal } = workOptions;
      const concurrency = workOptions.concurrency ?? 1;
      const running = new Set<Promise<void>>();
      while (!signal?.aborted) {
        if (running.size >= concurrency) {
          await Promise.race(running);
          continue;
        }
        let run: ClaimedRun | null;
        try {
          run = await producer.claim(signal);
        } catch (error) {
          if (signal?.aborted) break;
          throw error;
        }
        if (!run) continue;
        const claimed = run;
        const done = handler(claimed)
          .catch((error: unknown) => {
            if (claimed.signal.aborted && error instanceof ExecstreamError) return;
            (workOptions.onError ?? console.error)(error, claimed);
          })
          .then(async () => {
            if (!claimed.signal.aborted) await claimed.release().catch(() => {});
          })
          .finally(() => running.delete(done));
        running.add(done);
      }
      await Promise.all(running);
    },
  };
  return producer;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
