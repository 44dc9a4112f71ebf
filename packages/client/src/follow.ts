import {
  type Envelope,
  EnvelopeSchema,
  type ExecutionSnapshot,
  isTerminalStatus,
  reduceExecution,
  SseDecoder,
  snapshotEnvelope,
} from '@execstream/event-schema';
import {
  authInit,
  type ConnectionOptions,
  createExecstreamClient,
  ExecstreamError,
  fetchOf,
  retryAfterOf,
  send,
  urlOf,
} from './http.ts';

export interface FollowOptions extends ConnectionOptions {
  operationId: string;
  /**
   * Resume after this cursor (the `cursor` of the last envelope you handled). Without it the
   * follow hydrates with `v2.executions.get` and streams from the snapshot's cursor.
   */
  cursor?: string | null;
  /** The state at `cursor`, to go on folding from it; without it, `snapshot` stays `null` until
   * the server sends an `execution.snapshot`. */
  snapshot?: ExecutionSnapshot | null;
  signal?: AbortSignal;
  /** Reconnection delays: `retry:` from the server (or `initialDelayMs`), doubled on every
   * failed attempt up to `maxDelayMs`, with full jitter between half and all of it. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive attempts that fail to reach the server before giving up with `UNREACHABLE`.
   * @default Infinity */
  maxRetries?: number;
  /** Told before every reconnection: why, and how long it waits. */
  onRetry?: (info: { attempt: number; delayMs: number; error: ExecstreamError | null }) => void;
}

/** One event, and the state of the execution once it is folded in. */
export interface FollowUpdate {
  envelope: Envelope;
  /** The fold of every event so far with the shared reducer; `null` before any base state. */
  snapshot: ExecutionSnapshot | null;
  /** An `execution.snapshot` that replaced the state (hydration, or a resync mid-stream). */
  replaced: boolean;
}

/** How a follow ended: at the terminal event, or on a 204 (terminal, nothing after the cursor). */
export interface FollowEnd {
  reason: 'terminal' | 'no-content';
  snapshot: ExecutionSnapshot | null;
  cursor: string | null;
}

/** A follow in progress: iterate it for updates; `snapshot` and `cursor` are the latest. */
export interface ExecutionFollow extends AsyncIterable<FollowUpdate> {
  readonly snapshot: ExecutionSnapshot | null;
  readonly cursor: string | null;
  /** Set once the iteration has finished normally. */
  readonly end: FollowEnd | null;
}

const DEFAULT_INITIAL_DELAY_MS = 1_000;
const DEFAULT_MAX_DELAY_MS = 30_000;

/**
 * Follows one execution to its end: hydrates with `get`, then reads the raw SSE route
 * (`GET /v1/executions/:operationId/stream`) with fetch, resuming with its cursor across drops,
 * and folds every validated envelope with the shared reducer. Runs on fetch and ReadableStream
 * alone (Node 20, browsers).
 *
 * With a callback, resolves with how it ended; without, returns an async iterable.
 * Breaking out of the iteration, or aborting `signal`, closes the connection.
 */
export function followExecution(options: FollowOptions): ExecutionFollow;
export function followExecution(
  options: FollowOptions,
  onUpdate: (update: FollowUpdate) => void | Promise<void>,
): Promise<FollowEnd>;
export function followExecution(
  options: FollowOptions,
  onUpdate?: (update: FollowUpdate) => void | Promise<void>,
): ExecutionFollow | Promise<FollowEnd> {
  const follow = new Follow(options);
  if (!onUpdate) return follow;
  return (async () => {
    for await (const update of follow) await onUpdate(update);
    return follow.end as FollowEnd;
  })();
}

class Follow implements ExecutionFollow {
  readonly #options: FollowOptions;
  #snapshot: ExecutionSnapshot | null;
  #cursor: string | null;
  #end: FollowEnd | null = null;
  #started = false;

  constructor(options: FollowOptions) {
    this.#options = options;
    this.#snapshot = options.snapshot ?? null;
    this.#cursor = options.cursor ?? options.snapshot?.cursor ?? null;
  }

  get snapshot() {
    return this.#snapshot;
  }

  get cursor() {
    return this.#cursor;
  }

  get end() {
    return this.#end;
  }

  [Symbol.asyncIterator](): AsyncIterator<FollowUpdate> {
    if (this.#started) throw new Error('An execution follow can be iterated once');
    this.#started = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<FollowUpdate> {
    const options = this.#options;
    // One controller for this follow's requests: breaking out of the loop aborts them.
    const local = new AbortController();
    const onAbort = () => local.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const backoff = new Backoff(options);
    try {
      if (this.#cursor === null) {
        const snapshot = await backoff.persist(local.signal, () =>
          createExecstreamClient(options).get(options.operationId, local.signal),
        );
        yield this.#apply(snapshotEnvelope(snapshot));
        if (isTerminalStatus(snapshot.status)) return this.#finish('terminal');
      }
      for (;;) {
        const outcome = yield* this.#connect(local.signal, backoff);
        if (outcome === 'terminal' || outcome === 'no-content') return this.#finish(outcome);
        await backoff.wait(local.signal, outcome === 'dropped' ? null : outcome);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      local.abort();
    }
  }

  #finish(reason: FollowEnd['reason']): void {
    this.#end = { reason, snapshot: this.#snapshot, cursor: this.#cursor };
  }

  #apply(envelope: Envelope): FollowUpdate {
    const replaced = envelope.kind === 'execution.snapshot';
    // The shared reducer: a snapshot envelope is adopted whole, any other event folded in.
    if (envelope.kind === 'execution.snapshot') {
      this.#snapshot = reduceExecution(envelope.payload, envelope);
    } else if (this.#snapshot) {
      this.#snapshot = reduceExecution(this.#snapshot, envelope);
    }
    this.#cursor = envelope.cursor;
    return { envelope, snapshot: this.#snapshot, replaced };
  }

  /**
   * One connection: yields its events, and says how it ended. `'dropped'` when it ended (or
   * broke) after answering 200, to reconnect after the server's `retry:`; an error otherwise.
   */
  async *#connect(
    signal: AbortSignal,
    backoff: Backoff,
  ): AsyncGenerator<FollowUpdate, 'terminal' | 'no-content' | 'dropped' | ExecstreamError> {
    const options = this.#options;
    const { headers, credentials } = authInit(options.credentials);
    const url = urlOf(
      options.baseUrl,
      `/v1/executions/${encodeURIComponent(options.operationId)}/stream`,
    );
    const requestHeaders: Record<string, string> = { ...headers, accept: 'text/event-stream' };
    if (this.#cursor !== null) requestHeaders['last-event-id'] = this.#cursor;
    let response: Response;
    try {
      response = await send(fetchOf(options), url, {
        headers: requestHeaders,
        credentials,
        signal,
      });
    } catch (error) {
      if (error instanceof ExecstreamError) return error;
      throw error;
    }
    if (response.status === 204) return 'no-content';
    if (response.status !== 200 || !response.body) return failureOf(response);

    backoff.connected();
    const decoder = new SseDecoder();
    const text = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          if (signal.aborted) throw signal.reason;
          break; // the connection broke: resume from the cursor
        }
        if (chunk.done) break;
        for (const message of decoder.push(text.decode(chunk.value, { stream: true }))) {
          const envelope = this.#validate(message.data);
          const update = this.#apply(envelope);
          backoff.progressed();
          yield update;
          if (isTerminalEnvelope(envelope)) return 'terminal';
        }
      }
    } finally {
      if (decoder.retryMs !== undefined) backoff.serverRetryMs = decoder.retryMs;
      reader.cancel().catch(() => {});
    }
    return 'dropped';
  }

  /** The envelope as the server wrote it (keys in contract order), once it is known valid. */
  #validate(data: string): Envelope {
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch (error) {
      throw new ExecstreamError('INVALID_RESPONSE', 'The stream sent a frame that is not JSON', {
        cause: error,
      });
    }
    const parsed = EnvelopeSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ExecstreamError('INVALID_RESPONSE', 'The stream sent an invalid envelope', {
        cause: parsed.error,
      });
    }
    const envelope = raw as Envelope;
    if (envelope.operationId !== this.#options.operationId) {
      throw new ExecstreamError('INVALID_RESPONSE', 'The stream sent another execution’s event');
    }
    const last = this.#snapshot?.sequence;
    if (envelope.kind !== 'execution.snapshot' && last !== undefined && envelope.sequence <= last) {
      throw new ExecstreamError('INVALID_RESPONSE', 'The stream repeated or reordered an event');
    }
    return envelope;
  }
}

function isTerminalEnvelope(envelope: Envelope): boolean {
  if (envelope.kind === 'execution.snapshot') return isTerminalStatus(envelope.payload.status);
  return envelope.kind === 'execution.state_changed' && isTerminalStatus(envelope.payload.to);
}

/** The contract's error body (`{success: false, error: {code, message}}`) as an error. */
async function failureOf(response: Response): Promise<ExecstreamError> {
  let code = response.status >= 500 ? 'UNAVAILABLE' : 'HTTP_ERROR';
  let message = `The stream answered ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not the contract's body: keep the status
  }
  return new ExecstreamError(code, message, {
    status: response.status,
    retryAfterSeconds: retryAfterOf(response),
  });
}

/** Reconnection delays: exponential from the server's `retry:`, full jitter, a cap. */
class Backoff {
  serverRetryMs: number | null = null;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #maxRetries: number;
  readonly #onRetry: FollowOptions['onRetry'];
  #failures = 0;

  constructor(options: FollowOptions) {
    this.#initialMs = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
    this.#maxMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#maxRetries = options.maxRetries ?? Number.POSITIVE_INFINITY;
    this.#onRetry = options.onRetry;
  }

  /** A 200: the server is there (a drop after it is not a failure to reach it). */
  connected(): void {
    this.#failures = 0;
  }

  /** An event arrived: the next drop starts again from the shortest delay. */
  progressed(): void {
    this.#failures = 0;
  }

  /** Runs `attempt` until it succeeds; transient failures wait and retry, others throw. */
  async persist<T>(signal: AbortSignal, attempt: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const value = await attempt();
        this.#failures = 0;
        return value;
      } catch (error) {
        if (!(error instanceof ExecstreamError) || signal.aborted) throw error;
        await this.wait(signal, error);
      }
    }
  }

  /** Waits before the next attempt; throws a failure that waiting cannot fix. */
  async wait(signal: AbortSignal, error: ExecstreamError | null): Promise<void> {
    if (error && !error.transient) throw error;
    if (error) this.#failures += 1;
    if (error && this.#failures > this.#maxRetries) {
      throw error.code === 'UNREACHABLE'
        ? error
        : new ExecstreamError('UNREACHABLE', `Gave up after ${this.#maxRetries} retries`, {
            status: error.status,
            cause: error,
          });
    }
    const base = this.serverRetryMs ?? this.#initialMs;
    const exponential = Math.min(this.#maxMs, base * 2 ** Math.max(0, this.#failures - 1));
    const hinted = (error?.retryAfterSeconds ?? 0) * 1_000;
    const delayMs = Math.max(
      hinted,
      Math.round(exponential / 2 + (Math.random() * exponential) / 2),
    );
    this.#onRetry?.({ attempt: this.#failures, delayMs, error });
    await sleep(delayMs, signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
