import { BAD_HOST, errorResponse, type OpenApiGroup } from './shared.ts';

/** The web app's shell at `/` and its built assets, when its build is served. */
export function webAppGroup(options: { assets: boolean }): OpenApiGroup {
  const html = { 'text/html': { schema: { type: 'string' } } };
  return {
    tag: { name: 'web app', description: 'The web app (apps/web), served when built' },
    paths: {
      '/': {
        get: {
          operationId: 'webApp',
          tags: ['web app'],
          summary: 'The web app’s page (every client route, `/executions/{id}` too, gets it)',
          security: [],
          responses: { '200': { description: 'The page', content: html }, '400': BAD_HOST },
        },
      },
      ...(options.assets
        ? {
            '/assets/{file}': {
              get: {
                operationId: 'webAppAsset',
                tags: ['web app'],
                summary: 'A file of the build (named by its hash: cached for good)',
                security: [],
                parameters: [
                  { name: 'file', in: 'path', required: true, schema: { type: 'string' } },
                ],
                responses: {
                  '200': {
                    description: 'The file',
                    content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
                  },
                  '404': errorResponse('No such file (`NOT_FOUND`)'),
                },
              },
            },
          }
        : {}),
    },
  };
}
