import {
  clientMessage,
  describeFirstIssue,
  ExecutionStreamError,
  type StreamErrorCode,
  TooManyRequestsError,
  type ZodLikeError,
} from '@execstream/stream-service';
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';

const TRPC_CODE_BY_STREAM_CODE: Record<StreamErrorCode, TRPC_ERROR_CODE_KEY> = {
  TOO_MANY_STREAMS: 'TOO_MANY_REQUESTS',
  EXECUTION_NOT_FOUND: 'NOT_FOUND',
  CURSOR_INVALID: 'BAD_REQUEST',
  INVALID_INPUT: 'BAD_REQUEST',
  INVALID_EVENT: 'BAD_REQUEST',
  ILLEGAL_TRANSITION: 'CONFLICT',
  EXECUTION_TERMINAL: 'CONFLICT',
  SEQUENCE_CONFLICT: 'CONFLICT',
  LEASE_LOST: 'CONFLICT',
  CONFLICT: 'CONFLICT',
  FORBIDDEN: 'FORBIDDEN',
  TOO_MANY_EXECUTIONS: 'TOO_MANY_REQUESTS',
  STORE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  ORIGIN_NOT_ALLOWED: 'FORBIDDEN',
};

/**
 * The one mapping of stream-service errors to the tRPC edge, with their client-facing message.
 * Anything else becomes a bare INTERNAL_SERVER_ERROR whose message says nothing internal; the
 * cause stays for server logs (and `TooManyExecutionsError.retryAfterSeconds` for a Retry-After).
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  if (error instanceof ExecutionStreamError) {
    const code = TRPC_CODE_BY_STREAM_CODE[error.code];
    return new TRPCError({ code, message: clientMessage(error), cause: error });
  }
  return new TRPCError({
    code: 'INTERNAL_SERVER_ERROR',
    message: 'Internal server error',
    cause: error,
  });
}

/**
 * The message a client sees for an error: nothing internal, and nothing in another's words.
 * Input errors name the field (`operationId: …`).
 */
export function publicMessage(error: TRPCError): string {
  if (error.code === 'INTERNAL_SERVER_ERROR') return 'Internal server error';
  // tRPC passes on the JSON parser's own words ("Unexpected end of JSON input", "Expected
  // property name or '}' in JSON at position 1"), which describe V8, not this API.
  if (error.cause instanceof SyntaxError) return 'The input is not valid JSON';
  // tRPC's message echoes the header with an unbalanced quote.
  if (error.code === 'UNSUPPORTED_MEDIA_TYPE') {
    return 'Unsupported content-type: send application/json';
  }
  if (error.code === 'BAD_REQUEST') return describeInputError(error.cause) ?? error.message;
  return error.message;
}

/**
 * `operationId: operationId must match ...`: the first invalid field of an input, then why;
 * `null` when the error is not an input validation failure.
 */
function describeInputError(cause: unknown): string | null {
  return isValidationError(cause) ? describeFirstIssue(cause) : null;
}

/** A validation failure as tRPC reports it: the schema's issues, at least one. */
function isValidationError(cause: unknown): cause is ZodLikeError {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause)) return false;
  const { issues } = cause as { issues: unknown };
  return Array.isArray(issues) && issues.length > 0;
}

/**
 * What a 429 adds to tRPC's error `data`: which limit of CONTRACT §8 was reached (`reason`, the
 * code the other surfaces answer with) and when to retry. Empty for every other error.
 */
export function limitData(error: TRPCError): { reason?: string; retryAfterSeconds?: number } {
  const { cause } = error;
  if (!(cause instanceof TooManyRequestsError)) return {};
  return { reason: cause.code, retryAfterSeconds: cause.retryAfterSeconds };
}

/**
 * `responseMeta` for tRPC's adapters: a response carrying a 429 gets its `Retry-After` header
 * (the longest wait, when a batch holds several).
 */
export function limitResponseMeta({ errors }: { errors: readonly TRPCError[] }): {
  headers?: Record<string, string>;
} {
  let wait = 0;
  for (const error of errors) wait = Math.max(wait, limitData(error).retryAfterSeconds ?? 0);
  return wait > 0 ? { headers: { 'Retry-After': String(wait) } } : {};
}
