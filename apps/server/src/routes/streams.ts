import type { Principal } from '@execstream/auth';
import { UNAUTHORIZED } from '@execstream/delivery';
import { EXECUTION_STREAM_PATH, type ExecutionStreamRoute } from '@execstream/sse';
import { StoreUnavailableError } from '@execstream/stream-service';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { hijack, ignoreBodies, sendError, sendMethodNotAllowed } from '../app.ts';

export interface StreamRouteOptions {
  route: ExecutionStreamRoute;
  principalOf: (req: FastifyRequest) => Promise<Principal | null>;
}

/**
 * `GET /v1/executions/:operationId/stream`, the raw SSE route (CONTRACT §5). Fastify routes
 * and authenticates; the response is the route's own, written to the raw socket.
 */
export const streamRoutes: FastifyPluginAsync<StreamRouteOptions> = async (scope, options) => {
  // A stream request carries no body: none is parsed, whatever it claims to be.
  ignoreBodies(scope);
  scope.route({
    // Every method but OPTIONS (CORS preflights): credentials are checked before the method,
    // so without them every method gets the same 401.
    method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'],
    url: EXECUTION_STREAM_PATH,
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      let principal: Principal | null;
      try {
        principal = await options.principalOf(req);
      } catch (error) {
        // A key store that cannot be reached is an outage: the client comes back (CONTRACT §5).
        if (!(error instanceof StoreUnavailableError) || req.method !== 'GET') throw error;
        hijack(reply);
        return options.route.retryLater(reply.raw);
      }
      if (!principal) return sendError(reply, UNAUTHORIZED);
      // HEAD too: a stream has no length or status to tell without opening it.
      if (req.method !== 'GET') return sendMethodNotAllowed(reply, 'GET');
      hijack(reply);
      return options.route.handle(req.raw, reply.raw, principal);
    },
  });
};
