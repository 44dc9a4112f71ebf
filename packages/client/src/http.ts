import {
  type Envelope,
  type ExecutionSnapshot,
  ExecutionSnapshotSchema,
  type ExecutionStatus,
  type ExecutionType,
} from '@execstream/event-schema';

/** How a client proves who it is: an API key, or the browser's cookies (a wallet session). */
export type Credentials = { apiKey: string } | 'include';

export interface ConnectionOptions {
  /** The server's origin (and any path prefix), e.g. `https://api.example.com`. */
  baseUrl: string | URL;
  credentials: Credentials;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * A failure the server answered with (`code` is the contract's error code: `UNAUTHORIZED`,
 * `NOT_FOUND`, `CURSOR_INVALID`, `TOO_MANY_STREAMS`, ...), or `UNREACHABLE` when it could not
 * be reached, or `INVALID_RESPONSE` when it answered something that is not the contract.
 */
export class ExecstreamError extends Error {
  override readonly name = 'ExecstreamError';
  readonly code: string;
  /** The HTTP status, `null` when no answer came. */
  readonly status: number | null;
  /** From `Retry-After` (or tRPC's `data.retryAfterSeconds`) on 429 and 503. */
  readonly retryAfterSeconds: number | null;

  constructor(
    code: string,
    message: string,
    fields: { status?: number | null; retryAfterSeconds?: number | null; cause?: unknown } = {},
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = code;
    this.status = fields.status ?? null;
    this.retryAfterSeconds = fields.retryAfterSeconds ?? null;
  }

  /** Worth trying again later: no answer, a 5xx, or a limit with a retry hint. */
  get transient(): boolean {
    return this.status === null || this.status >= 500 || this.status === 429;
  }
}

export function urlOf(baseUrl: string | URL, path: string): string {
  return `${String(baseUrl).replace(/\/+$/, '')}${path}`;
}

/** Headers and `RequestInit.credentials` for the caller's credentials. */
export function authInit(credentials: Credentials): {
  headers: Record<string, string>;
  credentials: RequestInit['credentials'];
} {
  return credentials === 'include'
    ? { headers: {}, credentials: 'include' }
    : { headers: { 'x-api-key': credentials.apiKey }, credentials: 'same-origin' };
}

export function retryAfterOf(response: Response): number | null {
  const value = response.headers.get('retry-after');
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/** The `fetch` to use, or a clear error on a runtime without one. */
export function fetchOf(options: { fetch?: typeof fetch }): typeof fetch {
  const found = options.fetch ?? globalThis.fetch;
  if (typeof found !== 'function') throw new TypeError('execstream needs fetch (Node 20+).');
  return found;
}

export async function send(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
): Promise<Response> {
  try {
    return await fetchImpl(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    throw new ExecstreamError('UNREACHABLE', `Could not reach ${url}`, { cause: error });
  }
}

/** One tRPC call over plain HTTP, in tRPC's wire format without a transformer (CONTRACT §6). */
async function callProcedure(
  options: ConnectionOptions,
  kind: 'query' | 'mutation',
  procedure: string,
  input: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  const { headers, credentials } = authInit(options.credentials);
  let url = urlOf(options.baseUrl, `/v1/trpc/${procedure}`);
  const init: RequestInit = { headers, credentials, signal: signal ?? null };
  if (kind === 'query') {
    if (input !== undefined) url += `?input=${encodeURIComponent(JSON.stringify(input))}`;
  } else {
    init.method = 'POST';
    init.headers = { ...headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(input ?? {});
  }
  const response = await send(fetchOf(options), url, init);
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new ExecstreamError('INVALID_RESPONSE', `${procedure} answered ${response.status}`, {
      status: response.status,
      cause: error,
    });
  }
  const answer = body as {
    result?: { data?: unknown };
    error?: { message?: string; data?: { code?: string; retryAfterSeconds?: number } };
  };
  if (response.ok && answer.result && 'data' in answer.result) return answer.result.data;
  throw new ExecstreamError(
    answer.error?.data?.code ?? 'INVALID_RESPONSE',
    answer.error?.message ?? `${procedure} answered ${response.status}`,
    {
      status: response.status,
      retryAfterSeconds: answer.error?.data?.retryAfterSeconds ?? retryAfterOf(response),
    },
  );
}

/** One execution in `list`, newest first. */
export interface ExecutionSummary {
  operationId: string;
  type: ExecutionType;
  status: ExecutionStatus;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface ExecutionPage {
  items: ExecutionSummary[];
  /** Pass as `cursor` to read older executions; `null` when there are none. */
  nextCursor: string | null;
}

export interface ExecutionHistory {
  snapshot: ExecutionSnapshot;
  events: Envelope[];
  nextCursor: string | null;
  retention: { firstCursor: string | null; lastCursor: string | null; length: number };
}

/** The queries and mutations of `v2.executions`, over plain fetch (no tRPC client needed). */
export interface ExecstreamClient {
  get(operationId: string, signal?: AbortSignal): Promise<ExecutionSnapshot>;
  detail(
    input: { operationId: string; after?: string | null; limit?: number },
    signal?: AbortSignal,
  ): Promise<ExecutionHistory>;
  list(
    input?: { cursor?: string | null; limit?: number },
    signal?: AbortSignal,
  ): Promise<ExecutionPage>;
  submit(
    input: { type: ExecutionType; params?: Record<string, unknown>; idempotencyKey?: string },
    signal?: AbortSignal,
  ): Promise<{ operationId: string; submittedAt: string }>;
  cancel(operationId: string, signal?: AbortSignal): Promise<ExecutionSnapshot>;
}

export function createExecstreamClient(options: ConnectionOptions): ExecstreamClient {
  const call = (
    kind: 'query' | 'mutation',
    name: string,
    input: unknown,
    signal: AbortSignal | undefined,
  ) => callProcedure(options, kind, `v2.executions.${name}`, input, signal);
  return {
    get: async (operationId, signal) =>
      parseSnapshot(await call('query', 'get', { operationId }, signal)),
    detail: async (input, signal) => (await call('query', 'detail', input, signal)) as never,
    list: async (input, signal) => (await call('query', 'list', input, signal)) as never,
    submit: async (input, signal) => (await call('mutation', 'submit', input, signal)) as never,
    cancel: async (operationId, signal) =>
      parseSnapshot(await call('mutation', 'cancel', { operationId }, signal)),
  };
}

function parseSnapshot(value: unknown): ExecutionSnapshot {
  const parsed = ExecutionSnapshotSchema.safeParse(value);
  if (!parsed.success) {
    throw new ExecstreamError('INVALID_RESPONSE', 'The server sent a malformed snapshot', {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
