import { AG_UI_STREAM_PATH, type AgUiStreamRoute } from '@execstream/ag-ui';
import type { Principal } from '@execstream/auth';
import { UNAUTHORIZED } from '@execstream/delivery';
import { StoreUnavailableError } from '@execstream/stream-service';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { hijack, sendError, sendMethodNotAllowed } from '../app.ts';

export interface AgUiRouteOptions {
  route: AgUiStreamRoute;
  principalOf: (req: FastifyRequest) => Promise<Principal | null>;
}

/** The methods the AG-UI stream serves: `GET`, and `POST` with a `RunAgentInput`. */
export const AG_UI_ALLOW = 'GET, POST';

/**
 * `GET` and `POST /v1/ai/executions/:operationId/ag-ui-stream`, the AG-UI stream (CONTRACT §10).
 * As on the raw SSE route, credentials are checked first and then the method, both before any
 * body is read (a request without a key is 401 whatever its body); then a POST's body is parsed
 * as JSON (`application/json` only, within the server's body limit), and the route writes the
 * response to the raw socket.
 */
export const agUiRoutes: FastifyPluginAsync<AgUiRouteOptions> = async (scope, options) => {
  // JSON only: a RunAgentInput is JSON, and any other type is 415 rather than a string body.
  scope.removeContentTypeParser('text/plain');
  scope.route({
    // Every method but OPTIONS (CORS preflights), so that each gets the same 401 without a key.
    method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'],
    url: AG_UI_STREAM_PATH,
    exposeHeadRoute: false,
    // Before the body is read: the caller, then the method.
    onRequest: async (req, reply) => {
      let principal: Principal | null;
      try {
        principal = await options.principalOf(req);
      } catch (error) {
        // A key store that cannot be reached is an outage: the client comes back (CONTRACT §5).
        if (!(error instanceof StoreUnavailableError)) throw error;
        if (req.method !== 'GET' && req.method !== 'POST') throw error;
        hijack(reply);
        options.route.retryLater(reply.raw);
        return reply;
      }
      // Answering here ends the request: the body is never read, the handler never runs.
      if (!principal) {
        sendError(reply, UNAUTHORIZED);
        return reply;
      }
      // HEAD too: a stream has no length or status to tell without opening it.
      if (req.method !== 'GET' && req.method !== 'POST') {
        sendMethodNotAllowed(reply, AG_UI_ALLOW);
        return reply;
      }
    },
    handler: async (req, reply) => {
      // Settled by the credential guard in onRequest.
      const { principal } = req;
      if (!principal) return sendError(reply, UNAUTHORIZED);
      hijack(reply);
      return options.route.handle(req.raw, reply.raw, principal, req.body);
    },
  });
};
