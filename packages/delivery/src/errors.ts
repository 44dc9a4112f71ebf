import { TooManyRequestsError } from '@execstream/stream-service';

/**
 * The principal already holds its limit of open streams (CONTRACT §8): HTTP 429 with
 * `Retry-After`, tRPC TOO_MANY_REQUESTS. Thrown before anything is sent.
 */
export class TooManyStreamsError extends TooManyRequestsError {
  constructor(
    readonly limit: number,
    /** How long the client should wait before it opens the stream again. */
    retryAfterSeconds: number,
  ) {
    super(
      'TOO_MANY_STREAMS',
      `At most ${limit} streams may be open at once per principal; close one, or retry later`,
      retryAfterSeconds,
    );
  }
}
