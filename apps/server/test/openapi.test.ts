import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.ts';

describe('GET /v1/openapi.json', () => {
  it('serves a valid OpenAPI 3.1 document of every route, generated from the zod schemas', async () => {
    await using server = await startTestServer();
    const response = await fetch(`${server.url}/v1/openapi.json`);
    expect(response.status).toBe(200);
    // biome-ignore lint/suspicious/noExplicitAny: a JSON document read by path below
    const document: any = await response.json();
    const result = await validate(structuredClone(document));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual([
      '/healthz',
      '/readyz',
      '/v1/executions/{operationId}/stream',
      '/v1/openapi.json',
      '/v1/trpc/v2.executions.cancel',
      '/v1/trpc/v2.executions.detail',
      '/v1/trpc/v2.executions.get',
      '/v1/trpc/v2.executions.list',
      '/v1/trpc/v2.executions.stream',
      '/v1/trpc/v2.executions.submit',
    ]);
    const stream = document.paths['/v1/executions/{operationId}/stream'].get;
    expect(Object.keys(stream.responses).sort()).toEqual([
      '200',
      '204',
      '400',
      '401',
      '404',
      '429',
    ]);
    expect(Object.keys(stream.responses['200'].headers)).toEqual([
      'Cache-Control',
      'X-Accel-Buffering',
      'X-Request-Id',
    ]);
    for (const kind of ['execution.snapshot', 'execution.state_changed', 'execution.progress']) {
      expect(stream.description).toContain(kind);
    }
    // The kinds of the envelope come from the zod discriminated union, one branch per kind.
    const kinds = document.components.schemas.Envelope.oneOf.map(
      (branch: { properties: { kind: { const: string } } }) => branch.properties.kind.const,
    );
    expect(kinds).toHaveLength(6);
    // Each procedure's input is its own zod schema: limits included.
    const detail = document.paths['/v1/trpc/v2.executions.detail'].get;
    expect(detail.parameters[0].content['application/json'].schema.properties.limit).toEqual({
      type: 'integer',
      minimum: 1,
      maximum: 1000,
    });

    const post = await fetch(`${server.url}/v1/openapi.json`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
