/**
 * The typed errors of the stream service. Every backend throws these and only these, so the
 * HTTP and tRPC layers map one set of codes to responses (CONTRACT §7).
 */
export type StreamErrorCode =
  // Thrown by @execstream/delivery: a principal holds its limit of open streams (§8).
  | 'TOO_MANY_STREAMS'
  | 'EXECUTION_NOT_FOUND'
  | 'CURSOR_INVALID'
  | 'INVALID_INPUT'
  | 'INVALID_EVENT'
  | 'ILLEGAL_TRANSITION'
  | 'EXECUTION_TERMINAL'
  | 'SEQUENCE_CONFLICT'
  | 'TOO_MANY_EXECUTIONS'
  // The producer API (CONTRACT §12): a lease another worker holds now, or a create retried with
  // another body.
  | 'LEASE_LOST'
  | 'CONFLICT'
  // Thrown by the server: a credential that is not for this route (a producer key elsewhere, or
  // a user's credential on /v1/producer/*).
  | 'FORBIDDEN'
  | 'STORE_UNAVAILABLE'
  | 'RATE_LIMITED'
  // Thrown by the server: a cookie-authenticated write from a foreign origin (CSRF, §9).
  | 'ORIGIN_NOT_ALLOWED';

export class ExecutionStreamError extends Error {
  readonly code: StreamErrorCode;

  constructor(code: StreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * What a client may read of an error: its message, except where that holds internals (a
 * conflict's sequence numbers, the store's own words), which stay in `message` for the logs.
 * Both surfaces answer with this, so neither can leak them.
 */
export function clientMessage(error: ExecutionStreamError): string {
  switch (error.code) {
    case 'SEQUENCE_CONFLICT':
      return 'The execution changed meanwhile; retry';
    case 'STORE_UNAVAILABLE':
      return 'The execution store is unavailable; retry';
    default:
      return error.message;
  }
}

export class ExecutionNotFoundError extends ExecutionStreamError {
  constructor(operationId: string) {
    super('EXECUTION_NOT_FOUND', `Execution ${operationId} not found`);
  }
}

export class CursorInvalidError extends ExecutionStreamError {
  constructor(message = 'Cursor must be 0, 0-0 or <ms>-<seq>, e.g. 1743163201000-0') {
    super('CURSOR_INVALID', message);
  }
}

/** Arguments that break a method's documented bounds; nothing was read or written. */
export class InvalidInputError extends ExecutionStreamError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }

  static fromZod(error: ZodLikeError): InvalidInputError {
    return new InvalidInputError(describeFirstIssue(error));
  }
}

/** A draft or batch that breaks the schema or the batch rules of CONTRACT §3. */
export class InvalidEventError extends ExecutionStreamError {
  constructor(message: string) {
    super('INVALID_EVENT', message);
  }

  static fromZod(error: ZodLikeError): InvalidEventError {
    return new InvalidEventError(describeFirstIssue(error));
  }
}

export interface ZodLikeError {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** `events.0.payload.percent: Too big: expected number to be <=100`: the field, then why. */
export function describeFirstIssue(error: ZodLikeError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid input';
  return issue.path.length
    ? `${issue.path.map(String).join('.')}: ${issue.message}`
    : issue.message;
}

export class IllegalTransitionError extends ExecutionStreamError {
  constructor(
    readonly from: string | null,
    readonly to: string,
  ) {
    super('ILLEGAL_TRANSITION', `Illegal status transition ${from ?? 'null'} -> ${to}`);
  }
}

export class ExecutionTerminalError extends ExecutionStreamError {
  constructor(operationId: string, status: string) {
    super('EXECUTION_TERMINAL', `Execution ${operationId} is ${status}: nothing can follow it`);
  }
}

/** `expectedSequence` did not match: another producer appended first, or a retry already landed. */
export class SequenceConflictError extends ExecutionStreamError {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super('SEQUENCE_CONFLICT', `Expected sequence ${expected} but the stream is at ${actual}`);
  }
}

/**
 * The lease token is not the current holder's: the lease expired and another worker claimed the
 * execution (or released it, or the execution ended). The worker stops; nothing was appended.
 */
export class LeaseLostError extends ExecutionStreamError {
  constructor(operationId: string) {
    super(
      'LEASE_LOST',
      `The lease on ${operationId} is not held by this token: stop working on it`,
    );
  }
}

/** A create retried with the same operation id but another owner, type or params. */
export class ConflictError extends ExecutionStreamError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/** A credential that authenticates, but not for this route (CONTRACT §12). */
export class ForbiddenError extends ExecutionStreamError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/**
 * A limit of CONTRACT §8 was reached: nothing was done, and the same request may succeed after
 * `retryAfterSeconds` (the `Retry-After` of the 429). Every 429 of every surface is one of these.
 */
export class TooManyRequestsError extends ExecutionStreamError {
  readonly retryAfterSeconds: number;

  constructor(
    code: StreamErrorCode,
    message: string,
    retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    // Whole seconds, at least one: what the Retry-After header can say.
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/** Too many failed credential checks came from one client address. */
export class RateLimitedError extends TooManyRequestsError {
  constructor(retryAfterSeconds: number) {
    super(
      'RATE_LIMITED',
      'Too many failed credential checks from this address; retry later',
      retryAfterSeconds,
    );
  }
}

/**
 * The owner already has `limit` executions not yet terminal (CONTRACT §8); nothing was created.
 * Surfaces answer 429 with `Retry-After: retryAfterSeconds`.
 */
export class TooManyExecutionsError extends TooManyRequestsError {
  constructor(
    readonly limit: number,
    /** When a retry may find a slot free: a hint, since no one knows when a run ends. */
    retryAfterSeconds: number,
  ) {
    super(
      'TOO_MANY_EXECUTIONS',
      `At most ${limit} executions may be unfinished at once; retry once one has ended`,
      retryAfterSeconds,
    );
  }
}

/**
 * A request authenticated by a wallet-session cookie that would change something came from an
 * origin that is neither the server's nor one it allows (cross-site request forgery, CONTRACT
 * §9); nothing was done.
 */
export class OriginNotAllowedError extends ExecutionStreamError {
  constructor(origin: string | null) {
    super(
      'ORIGIN_NOT_ALLOWED',
      origin === null
        ? 'A cookie-authenticated write must come from the server or an allowed origin'
        : `A cookie-authenticated write from ${origin.slice(0, 200)} is refused: not an allowed origin`,
    );
  }
}

/** The store could not be reached; nothing was written. */
export class StoreUnavailableError extends ExecutionStreamError {
  constructor(message = 'The execution store is unavailable', options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
  }
}
