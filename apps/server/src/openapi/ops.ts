import { BAD_HOST, errorResponse, jsonResponse, type OpenApiGroup } from './shared.ts';

const status = (value: string) => ({
  type: 'object',
  required: ['status'],
  properties: { status: { const: value } },
});

/** Health, readiness, metrics (when on this port) and this document. */
export function opsGroup(options: { metricsHere: boolean; metricsToken: boolean }): OpenApiGroup {
  const paths: OpenApiGroup['paths'] = {
    '/healthz': {
      get: {
        operationId: 'healthz',
        tags: ['ops'],
        summary: 'The process answers',
        security: [],
        responses: { '200': jsonResponse('Alive', status('ok')), '400': BAD_HOST },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        tags: ['ops'],
        summary: 'The store answers and the server is not shutting down',
        security: [],
        responses: {
          '200': jsonResponse('Ready', status('ready')),
          '400': BAD_HOST,
          '503': errorResponse('Not ready (`NOT_READY`)'),
        },
      },
    },
    '/v1/openapi.json': {
      get: {
        operationId: 'openapi',
        tags: ['ops'],
        summary: 'This document',
        security: [],
        responses: {
          '200': jsonResponse('OpenAPI 3.1', { type: 'object' }),
          '400': BAD_HOST,
        },
      },
    },
  };
  if (options.metricsHere) {
    paths['/metrics'] = {
      get: {
        operationId: 'metrics',
        tags: ['ops'],
        summary: 'Prometheus metrics',
        security: options.metricsToken ? [{ metricsToken: [] }] : [],
        responses: {
          '200': {
            description: 'The Prometheus text exposition',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          '400': BAD_HOST,
          ...(options.metricsToken
            ? { '401': errorResponse('Without `Authorization: Bearer <token>`') }
            : {}),
        },
      },
    };
  }
  return {
    tag: { name: 'ops', description: 'Health, readiness, metrics and this document' },
    paths,
  };
}
