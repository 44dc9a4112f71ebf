import type { FastifyInstance } from 'fastify';

/**
 * `GET /v1/openapi.json`: the OpenAPI 3.1 document, no credentials needed. Built at the first
 * request, once the server listens: its `servers` entry is the public origin, which a server on
 * port 0 knows only then.
 */
export async function openApiRoutes(
  app: FastifyInstance,
  options: { document: () => Record<string, unknown> },
): Promise<void> {
  let body: string | null = null;
  app.get('/v1/openapi.json', (_req, reply) => {
    body ??= JSON.stringify(options.document());
    reply.header('content-type', 'application/json; charset=utf-8').send(body);
  });
}
