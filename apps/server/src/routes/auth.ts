import {
  type Principal,
  SESSION_COOKIE,
  WalletAuthError,
  type WalletSessions,
} from '@execstream/auth';
import { UNAUTHORIZED } from '@execstream/delivery';
import { TooManyRequestsError } from '@execstream/stream-service';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ignoreBodies, sendError, sendJson } from '../app.ts';
import { type CredentialGuard, cookieValues } from '../credentials.ts';
import type { Logger } from '../logger.ts';

export interface AuthRouteOptions {
  wallets: WalletSessions;
  guard: CredentialGuard;
  /** The server's public origin: `Secure` cookies when it is https. */
  publicOrigin: () => string;
  sessionTtlMs: number;
  /** Challenges one client address may ask for per minute. */
  maxChallengesPerMinute: number;
  logger: Logger;
}

/** Far above any valid sign-in body (a 4 KiB message, an 8 KiB signature as hex). */
const AUTH_BODY_LIMIT = 32 * 1024;

/**
 * Sign-In with Ethereum (CONTRACT §9): `POST /v1/auth/siwe/challenge`, `POST
 * /v1/auth/siwe/verify` (sets the session cookie), `GET /v1/auth/session` (the caller, whatever
 * its credential) and `POST /v1/auth/logout` (revokes the cookie's session on every instance).
 * Errors are CONTRACT §7 bodies; a refused sign-in counts as a failed credential check.
 */
export async function authRoutes(app: FastifyInstance, options: AuthRouteOptions): Promise<void> {
  const { wallets, guard } = options;
  const countChallenge = app.createRateLimit({
    max: options.maxChallengesPerMinute,
    timeWindow: 60_000,
    // Its own keys: the failed-check counter keys by the bare address in the same store.
    keyGenerator: (req) => `siwe-challenge:${req.ip}`,
  });

  app.post('/v1/auth/siwe/challenge', { bodyLimit: AUTH_BODY_LIMIT }, async (req, reply) => {
    const count = await countChallenge(req);
    if (!count.isAllowed && count.isExceeded) {
      throw new TooManyRequestsError(
        'RATE_LIMITED',
        'Too many sign-in challenges from this address; retry later',
        count.ttlInSeconds,
      );
    }
    await answer(req, reply, async () => wallets.challenge(req.body));
  });

  app.post('/v1/auth/siwe/verify', { bodyLimit: AUTH_BODY_LIMIT }, async (req, reply) => {
    await answer(req, reply, async () => {
      const { token, session } = await wallets.verify(req.body);
      reply.setCookie(SESSION_COOKIE, token, cookieOptions(options, options.sessionTtlMs));
      return { address: session.address, expiresAt: session.expiresAt };
    });
  });

  app.get('/v1/auth/session', { exposeHeadRoute: false }, async (req, reply) => {
    const principal = await guard.principalOf(req);
    if (!principal) return sendError(reply, UNAUTHORIZED);
    sendJson(reply, describe(principal));
  });

  await app.register(async (scope) => {
    // Logout reads no body, whatever it claims to be (a browser's bare POST sends none).
    ignoreBodies(scope);
    scope.post('/v1/auth/logout', async (req, reply) => {
      // The cookie must authenticate (and, a write, come from an allowed origin) like any other.
      const principal = await guard.principalOf(req);
      const [token] = cookieValues(app, req, SESSION_COOKIE);
      if (principal?.credential !== 'wallet-session' || token === undefined) {
        return sendError(reply, {
          status: 401,
          code: 'UNAUTHORIZED',
          message: 'No wallet session to log out of: send the session cookie',
        });
      }
      await wallets.logout(token);
      reply.clearCookie(SESSION_COOKIE, cookieOptions(options, 0));
      reply.code(204).header('Cache-Control', 'no-store').send();
    });
  });

  /** Runs a sign-in step: its refusals in CONTRACT §7 shape, a 401 counted as a failed check. */
  async function answer(req: FastifyRequest, reply: FastifyReply, step: () => Promise<unknown>) {
    let body: unknown;
    try {
      body = await step();
    } catch (error) {
      if (!(error instanceof WalletAuthError)) throw error;
      if (error.status === 401) await guard.countFailure(req);
      if (error.status === 503)
        options.logger.warn({ reqId: req.id, err: error.cause }, 'signature check failed');
      return sendError(reply, { status: error.status, code: error.code, message: error.message });
    }
    sendJson(reply, body);
  }
}

function cookieOptions(options: AuthRouteOptions, ttlMs: number) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    path: '/',
    secure: options.publicOrigin().startsWith('https:'),
    maxAge: Math.floor(ttlMs / 1000),
  };
}

/** What `GET /v1/auth/session` tells of the caller. */
function describe(principal: Principal) {
  if (principal.credential !== 'wallet-session') {
    return { ownerId: principal.ownerId, credential: principal.credential };
  }
  return {
    ownerId: principal.ownerId,
    credential: principal.credential,
    address: principal.address,
    chainId: principal.chainId,
    expiresAt: principal.expiresAt,
  };
}
