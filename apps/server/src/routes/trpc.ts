import type { Principal } from '@execstream/auth';
import {
  type AppRouter,
  createContextFactory,
  limitResponseMeta,
  type TrpcStreamRoute,
} from '@execstream/trpc';
import { fastifyRequestHandler } from '@trpc/server/adapters/fastify';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { hijack } from '../app.ts';
import type { Logger } from '../logger.ts';

export const TRPC_BASE_PATH = '/v1/trpc';

/**
 * Body types tRPC reads by itself, as FormData and as a byte stream, which no procedure here
 * takes; on a GET it answers either with a 405 that has no `Allow`.
 */
const NOT_JSON_BODIES = new Set(['multipart/form-data', 'application/octet-stream']);

export interface TrpcRouteOptions {
  router: AppRouter;
  /** `v2.executions.stream`, served from the delivery core in tRPC's wire protocol. */
  stream: TrpcStreamRoute;
  principalOf: (
    req: FastifyRequest,
    connectionParams: Record<string, string | undefined> | null,
  ) => Promise<Principal | null>;
  /** Larger bodies get tRPC's `PAYLOAD_TOO_LARGE` (413). */
  maxBodyBytes: number;
  /** More calls in one batch get `BAD_REQUEST` (400), before any runs (CONTRACT §8). */
  maxBatchSize: number;
  logger: Logger;
}

/**
 * `v2.executions.*` at `/v1/trpc`, through tRPC's own Fastify request handler, in a scope of
 * its own: there Fastify parses no body, so tRPC reads it, bounds it and answers its errors
 * (malformed JSON, content types, size) in tRPC's shape, as its clients expect.
 */
export const trpcRoutes: FastifyPluginAsync<TrpcRouteOptions> = async (scope, options) => {
  const createContext = createContextFactory<FastifyRequest>(options.principalOf);
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  scope.route({
    method: ['GET', 'POST'],
    url: `${TRPC_BASE_PATH}/*`,
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      const path = (req.params as { '*': string })['*'];
      if (options.stream.handles(req.method, path, new URL(req.url, 'http://localhost'))) {
        hijack(reply);
        return options.stream.serve(req.raw, reply.raw, (connectionParams) =>
          options.principalOf(req, connectionParams),
        );
      }
      const type = req.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase();
      // The API speaks JSON alone: tRPC then treats these as any other type it does not read,
      // ignored on a GET and refused on a POST (415).
      if (type && NOT_JSON_BODIES.has(type)) delete req.raw.headers['content-type'];
      // A POST that is not JSON (a form, text/plain, no type at all) is what another site can
      // send blind, without a preflight, with a visitor's cookie: it is told 403 (CONTRACT §9)
      // before it is told its body is of the wrong type. A caller refused so is let through to
      // tRPC as JSON: tRPC checks the type before its context, and the context (the same
      // caller, resolved once) answers the refusal in tRPC's shape before any body is read.
      if (req.method === 'POST' && type !== 'application/json') {
        const refused = await options.principalOf(req, null).then(
          () => false,
          () => true,
        );
        if (refused) req.raw.headers['content-type'] = 'application/json';
      }
      return fastifyRequestHandler({
        router: options.router,
        req,
        res: reply,
        path,
        createContext,
        maxBodySize: options.maxBodyBytes,
        maxBatchSize: options.maxBatchSize,
        responseMeta: (meta) => {
          const headers = new Headers(limitResponseMeta(meta).headers);
          // Appended to tRPC's own `Vary`, which replaces the one CORS set on the reply.
          headers.append('Vary', 'Origin');
          return { headers };
        },
        onError({ error, path }) {
          if (error.code === 'INTERNAL_SERVER_ERROR') {
            options.logger.error({ err: error.cause ?? error, path }, 'tRPC procedure failed');
          }
        },
      });
    },
  });
};
