import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { sendError, sendJson } from '../app.ts';
import type { ServerMetrics } from '../metrics.ts';

export interface OpsRouteOptions {
  /** True when the store answers and the server is not shutting down. */
  ready: () => Promise<boolean>;
  /** `null`: `/metrics` is served elsewhere (its own port), not here. */
  metrics: ServerMetrics | null;
  /** When set, `/metrics` wants `Authorization: Bearer <token>`. */
  metricsToken: string | null;
}

/** `/healthz` (the process answers), `/readyz` (it can serve) and `/metrics` (Prometheus). */
export async function opsRoutes(app: FastifyInstance, options: OpsRouteOptions): Promise<void> {
  app.get('/healthz', (_req, reply) => sendJson(reply, { status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (await options.ready()) return sendJson(reply, { status: 'ready' });
    sendError(reply, {
      status: 503,
      code: 'NOT_READY',
      message: 'The store is unreachable or the server is shutting down',
    });
  });
  const { metrics } = options;
  if (metrics) app.get('/metrics', metricsHandler(metrics, options.metricsToken));
}

/** The Prometheus exposition, behind a bearer token when one is configured. */
export function metricsHandler(metrics: ServerMetrics, token: string | null) {
  const expected = token === null ? null : Buffer.from(`Bearer ${token}`);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (expected) {
      const given = Buffer.from(req.headers.authorization ?? '');
      // Compared in constant time, so the answer's timing says nothing of the token.
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        reply.header('WWW-Authenticate', 'Bearer realm="metrics"');
        return sendError(reply, {
          status: 401,
          code: 'UNAUTHORIZED',
          message: 'Send Authorization: Bearer <EXECSTREAM_METRICS_TOKEN>',
        });
      }
    }
    const body = await metrics.exposition();
    reply
      .code(200)
      .type(metrics.registry.contentType)
      .header('Cache-Control', 'no-store')
      .send(body);
  };
}

/**
 * `/metrics` alone on a port of its own (`EXECSTREAM_METRICS_PORT`), for deployments that keep
 * it off the public listener; the API's port then does not serve it.
 */
export async function startMetricsServer(
  metrics: ServerMetrics,
  token: string | null,
  port: number,
  host: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const app = Fastify({ return503OnClosing: false });
  app.get('/metrics', metricsHandler(metrics, token));
  app.setNotFoundHandler((_req, reply) =>
    sendError(reply, { status: 404, code: 'NOT_FOUND', message: 'Only /metrics is served here' }),
  );
  await app.listen({ port, host });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}
