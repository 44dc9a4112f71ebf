import type { Authenticate, Principal } from '@execstream/auth';
import {
  ForbiddenError,
  OriginNotAllowedError,
  RateLimitedError,
} from '@execstream/stream-service';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { pathnameOf } from './app.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller being resolved: asked once per request, however many steps ask. */
    caller: Promise<Principal | null> | null;
    /** The caller once resolved (`null` before, or for a request that proved no identity). */
    principal: Principal | null;
  }
}

export interface CredentialGuardOptions {
  authenticate: Authenticate;
  /**
   * Failed credential checks one client address may make per window; the next ones answer 429
   * `RATE_LIMITED` until the window ends.
   */
  maxFailures: number;
  windowMs: number;
  /**
   * True for the origins a cookie-authenticated write may come from: the server's own and those
   * of `EXECSTREAM_CORS_ORIGINS`.
   */
  isAllowedOrigin: (origin: string) => boolean;
}

/** The caller of every request, and the count of failed checks per address. */
export interface CredentialGuard {
  /**
   * The caller of a request: `null` for a request that proved no identity (401 on every
   * surface), counted as a failed check. A producer key is the caller of `/v1/producer/*`
   * alone, and nothing else is (CONTRACT §12): either way round, `ForbiddenError`.
   * @throws RateLimitedError, OriginNotAllowedError, ForbiddenError, StoreUnavailableError
   */
  principalOf(
    req: FastifyRequest,
    connectionParams?: Record<string, string | undefined> | null,
  ): Promise<Principal | null>;
  /**
   * Counts a failed check that did not go through `principalOf` (a refused sign-in).
   * @throws RateLimitedError past the limit
   */
  countFailure(req: FastifyRequest): Promise<void>;
}

/** Methods that change nothing: a cookie may authenticate them from any origin. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The caller of a request, on every surface (the raw SSE route, tRPC, the auth routes, and
 * later AG-UI): its `X-API-KEY`, tRPC `connectionParams`, or wallet-session cookie, and the count
 * of its address's failed checks (CONTRACT §8).
 *
 * Failures are counted with `@fastify/rate-limit` in its store (Redis when the server runs on
 * Redis, so every instance shares the count; memory on the embedded store). Only failures are
 * counted, after the check: a valid credential costs no extra round trip, and guessing keys or
 * session tokens at speed, or a client stuck retrying a revoked one, is answered 429 with
 * `Retry-After` rather than looked up without end.
 *
 * A write (any method but GET, HEAD, OPTIONS: tRPC mutations, logout) that a session cookie
 * authenticates must come from the server's own origin or an allowed one (CONTRACT §9): the
 * browser attaches the cookie to a request any page on the same site sends, and `Origin` says
 * which page that was. A request without `Origin` is a browser's only when it sends
 * `Sec-Fetch-Site`; then it must say `same-origin` (or `none`, typed by the user); `curl` and
 * other programs send neither and are not refused.
 */
export function createCredentialGuard(
  app: FastifyInstance,
  options: CredentialGuardOptions,
): CredentialGuard {
  const countFailure = app.createRateLimit({
    max: options.maxFailures,
    timeWindow: options.windowMs,
    keyGenerator: (req) => req.ip,
  });
  const failed = async (req: FastifyRequest) => {
    const count = await countFailure(req);
    if (!count.isAllowed && count.isExceeded) throw new RateLimitedError(count.ttlInSeconds);
  };
  const cookies = (req: FastifyRequest) => (name: string) => cookieValues(app, req, name);
  // A request's caller is resolved once, however many steps ask (a tRPC form POST is checked
  // before tRPC's own context): one lookup, and one failed check counted, per request. The
  // state is the request's own (decorateRequest), so it ends with the request.
  app.decorateRequest('caller', null);
  app.decorateRequest('principal', null);
  const resolve = async (
    req: FastifyRequest,
    connectionParams?: Record<string, string | undefined> | null,
  ): Promise<Principal | null> => {
    const principal = await options.authenticate({
      headers: req.headers,
      connectionParams,
      cookies: cookies(req),
    });
    if (!principal) {
      await failed(req);
      return null;
    }
    const producerRoute = isProducerPath(req.url);
    if (producerRoute !== (principal.credential === 'producer-key')) {
      throw new ForbiddenError(
        producerRoute
          ? 'Producer routes take a producer key (X-API-KEY), not an API key or a session'
          : 'A producer key is accepted on /v1/producer/* only',
      );
    }
    if (principal.credential === 'wallet-session' && !SAFE_METHODS.has(req.method)) {
      const { origin } = req.headers;
      if (origin === undefined ? !isSameOriginFetch(req) : !options.isAllowedOrigin(origin)) {
        throw new OriginNotAllowedError(origin ?? null);
      }
    }
    return principal;
  };
  return {
    principalOf(req, connectionParams) {
      req.caller ??= resolve(req, connectionParams).then((principal) => {
        req.principal = principal;
        return principal;
      });
      return req.caller;
    },
    countFailure: failed,
  };
}

/** Whether a request URL is under `/v1/producer/`, the routes of producer keys. */
export function isProducerPath(url: string): boolean {
  return pathnameOf(url).startsWith(PRODUCER_PATH_PREFIX);
}

/** Where the producer API lives (CONTRACT §12). */
export const PRODUCER_PATH_PREFIX = '/v1/producer/';

/** A request without `Origin`: a program's, or a browser's own navigation. */
function isSameOriginFetch(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/**
 * Every value of a cookie in the request, in order. The header's pairs go through the cookie
 * parser of `@fastify/cookie` one at a time: on the whole header it keeps only the first of two
 * cookies of one name, and two must be told from one.
 */
export function cookieValues(app: FastifyInstance, req: FastifyRequest, name: string): string[] {
  const header = req.headers.cookie;
  if (!header) return [];
  return header.split(';').flatMap((pair) => {
    const value = app.parseCookie(pair)[name];
    return value === undefined ? [] : [value];
  });
}
