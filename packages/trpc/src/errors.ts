import {
  describeFirstIssue,
  ExecutionStreamError,
  type StreamErrorCode,
  type ZodLikeError,
} from '@execstream/stream-service';
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';

const TRPC_CODE_BY_STREAM_CODE: Record<StreamErrorCode, TRPC_ERROR_CODE_KEY> = {
  EXECUTION_NOT_FOUND: 'NOT_FOUND',
  CURSOR_INVALID: 'BAD_REQUEST',
  INVALID_INPUT: 'BAD_REQUEST',
  INVALID_EVENT: 'BAD_REQUEST',
  ILLEGAL_TRANSITION: 'CONFLICT',
  EXECUTION_TERMINAL: 'CONFLICT',
  SEQUENCE_CONFLICT: 'CONFLICT',
  STORE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
};

/**
 * The one mapping of stream-service errors to the tRPC edge. Anything else becomes a bare
 * INTERNAL_SERVER_ERROR whose message says nothing internal; the cause stays for server logs.
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  if (error instanceof ExecutionStreamError) {
    const code = TRPC_CODE_BY_STREAM_CODE[error.code];
    const message =
      code === 'SERVICE_UNAVAILABLE' ? 'The execution store is unavailable; retry' : error.message;
    return new TRPCError({ code, message, cause: error });
  }
  return new TRPCError({
    code: 'INTERNAL_SERVER_ERROR',
    message: 'Internal server error',
    cause: error,
  });
}

/**
 * `operationId: operationId must match ...`: the first invalid field of an input, then why;
 * `null` when the error is not an input validation failure.
 */
export function describeInputError(cause: unknown): string | null {
  return isValidationError(cause) ? describeFirstIssue(cause) : null;
}

/** A validation failure as tRPC reports it: the schema's issues, at least one. */
function isValidationError(cause: unknown): cause is ZodLikeError {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause)) return false;
  const { issues } = cause as { issues: unknown };
  return Array.isArray(issues) && issues.length > 0;
}
