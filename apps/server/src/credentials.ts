import type { Authenticate, Principal } from '@execstream/auth';
import { RateLimitedError } from '@execstream/stream-service';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface CredentialGuardOptions {
  authenticate: Authenticate;
  /**
   * Failed credential checks one client address may make per window; the next ones answer 429
   * `RATE_LIMITED` until the window ends.
   */
  maxFailures: number;
  windowMs: number;
}

/**
 * The caller of a request, on every surface (the raw SSE route, tRPC, and later AG-UI): the
 * credentials of the request, and the count of its address's failed checks (CONTRACT §8).
 *
 * Failures are counted with `@fastify/rate-limit` in its store (Redis when the server runs on
 * Redis, so every instance shares the count; memory on the embedded store). Only failures are
 * counted, after the check: a valid credential costs no extra round trip, and guessing keys at
 * speed, or a client stuck retrying a revoked one, is answered 429 with `Retry-After` rather
 * than looked up without end.
 *
 * Resolves `null` for a request that proved no identity (401 on every surface).
 * @throws RateLimitedError, StoreUnavailableError
 */
export function createCredentialGuard(
  app: FastifyInstance,
  options: CredentialGuardOptions,
): (
  req: FastifyRequest,
  connectionParams?: Record<string, string | undefined> | null,
) => Promise<Principal | null> {
  const countFailure = app.createRateLimit({
    max: options.maxFailures,
    timeWindow: options.windowMs,
    keyGenerator: (req) => req.ip,
  });
  return async (req, connectionParams) => {
    const principal = await options.authenticate({ headers: req.headers, connectionParams });
    if (principal) return principal;
    const count = await countFailure(req);
    if (!count.isAllowed && count.isExceeded) throw new RateLimitedError(count.ttlInSeconds);
    return null;
  };
}
