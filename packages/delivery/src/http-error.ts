import type { ServerResponse } from 'node:http';
import {
  clientMessage,
  ExecutionStreamError,
  type StreamErrorCode,
  TooManyRequestsError,
} from '@execstream/stream-service';

/** An error answer of a non-tRPC route (CONTRACT §7). */
export interface HttpError {
  status: number;
  code: string;
  message: string;
  /** Sent as `Retry-After` (429s of CONTRACT §8). */
  retryAfterSeconds?: number;
}

const STATUS_BY_CODE: Record<StreamErrorCode, number> = {
  TOO_MANY_STREAMS: 429,
  EXECUTION_NOT_FOUND: 404,
  CURSOR_INVALID: 400,
  INVALID_INPUT: 400,
  INVALID_EVENT: 400,
  ILLEGAL_TRANSITION: 409,
  EXECUTION_TERMINAL: 409,
  SEQUENCE_CONFLICT: 409,
  LEASE_LOST: 409,
  CONFLICT: 409,
  FORBIDDEN: 403,
  TOO_MANY_EXECUTIONS: 429,
  STORE_UNAVAILABLE: 503,
  RATE_LIMITED: 429,
  ORIGIN_NOT_ALLOWED: 403,
};

export const UNAUTHORIZED: HttpError = {
  status: 401,
  code: 'UNAUTHORIZED',
  message: 'Missing or invalid credentials: send an X-API-KEY header or a wallet session cookie',
};

export const OPERATION_ID_INVALID: HttpError = {
  status: 400,
  code: 'OPERATION_ID_INVALID',
  message: 'operationId must match op_[A-Za-z0-9_-]{1,64}',
};

export const INTERNAL_ERROR: HttpError = {
  status: 500,
  code: 'INTERNAL_SERVER_ERROR',
  message: 'Internal server error',
};

/**
 * The HTTP answer for an error from the stream service; `null` for anything else, which the
 * caller logs and answers as a bare 500 so that no internal message reaches the client.
 */
export function httpErrorOf(error: unknown): HttpError | null {
  if (!(error instanceof ExecutionStreamError)) return null;
  const status = STATUS_BY_CODE[error.code];
  const message = clientMessage(error);
  if (error instanceof TooManyRequestsError) {
    return { status, code: error.code, message, retryAfterSeconds: error.retryAfterSeconds };
  }
  return { status, code: error.code, message };
}

/** `{"success":false,"error":{code,message}}`: the body of every error of a non-tRPC route. */
export function errorBody(error: HttpError): string {
  return JSON.stringify({ success: false, error: { code: error.code, message: error.message } });
}

/** Writes `{"success":false,"error":{code,message}}`; the caller has set `X-Request-Id`. */
export function sendHttpError(
  res: ServerResponse,
  error: HttpError,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(error);
  res.writeHead(error.status, {
    ...headers,
    ...(error.retryAfterSeconds === undefined
      ? {}
      : { 'Retry-After': String(error.retryAfterSeconds) }),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
