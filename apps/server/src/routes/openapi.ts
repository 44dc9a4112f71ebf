import type { FastifyInstance } from 'fastify';

/** `GET /v1/openapi.json`: the OpenAPI 3.1 document, built once, no credentials needed. */
export async function openApiRoutes(
  app: FastifyInstance,
  options: { document: Record<string, unknown> },
): Promise<void> {
  const body = JSON.stringify(options.document);
  app.get('/v1/openapi.json', (_req, reply) => {
    reply.header('content-type', 'application/json; charset=utf-8').send(body);
  });
}
