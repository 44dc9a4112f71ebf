import {
  EnvelopeSchema,
  EVENT_KINDS,
  ExecutionSnapshotSchema,
  ExecutionStatusSchema,
  ExecutionTypeSchema,
  OperationIdSchema,
} from '@execstream/event-schema';
import type { AppRouter } from '@execstream/trpc';
import { z } from 'zod';
import type { ServerConfig } from './config.ts';

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a zod schema, without `$schema`. */
function jsonSchema(
  schema: z.core.$ZodType,
  io: 'input' | 'output' = 'output',
): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

// What the procedures return, for the document (the router's outputs are not zod schemas).
const OUTPUTS: Record<string, z.core.$ZodType> = {
  get: ExecutionSnapshotSchema,
  cancel: ExecutionSnapshotSchema,
  submit: z.object({ operationId: OperationIdSchema, submittedAt: z.iso.datetime() }),
  list: z.object({
    items: z.array(
      z.object({
        operationId: OperationIdSchema,
        type: ExecutionTypeSchema,
        status: ExecutionStatusSchema,
        createdAt: z.iso.datetime(),
        updatedAt: z.iso.datetime(),
        finishedAt: z.iso.datetime().nullable(),
      }),
    ),
    nextCursor: z.string().nullable(),
  }),
  detail: z.object({
    snapshot: ExecutionSnapshotSchema,
    events: z.array(EnvelopeSchema),
    nextCursor: z.string().nullable(),
    retention: z.object({
      firstCursor: z.string().nullable(),
      lastCursor: z.string().nullable(),
      length: z.number().int(),
    }),
  }),
};

const SUMMARIES: Record<string, string> = {
  stream: 'Follow an execution (tRPC subscription, in tRPC’s SSE wire protocol)',
  get: 'The snapshot of an execution, for hydration',
  detail: 'The retained history of an execution, paged',
  list: 'The caller’s executions, newest first, paged by cursor',
  submit: 'Submit an execution (idempotent per owner and idempotencyKey)',
  cancel: 'Cancel an execution; answers the snapshot after the request',
};

const errorResponse = (description: string, schema = 'ErrorBody', retryAfter = false) => ({
  description,
  headers: {
    'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
    ...(retryAfter ? { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } : {}),
  },
  content: { 'application/json': { schema: ref(schema) } },
});

const trpcErrors = {
  '400': errorResponse('Invalid input (`BAD_REQUEST`), or a batch over the limit', 'TrpcError'),
  '401': errorResponse('Missing or invalid credentials (`UNAUTHORIZED`)', 'TrpcError'),
  '404': errorResponse('No such execution for this owner (`NOT_FOUND`)', 'TrpcError'),
  '413': errorResponse('Body over the limit (`PAYLOAD_TOO_LARGE`)', 'TrpcError'),
  '429': errorResponse(
    'A limit (`TOO_MANY_REQUESTS`; `data.reason`: `TOO_MANY_EXECUTIONS`, `RATE_LIMITED`)',
    'TrpcError',
    true,
  ),
  '503': errorResponse('The store is unreachable', 'TrpcError'),
};

/**
 * The OpenAPI 3.1 document of the HTTP routes, generated from the zod schemas the server
 * validates with: the envelope and snapshot of @execstream/event-schema and each tRPC
 * procedure's own input schema. Served at `GET /v1/openapi.json`.
 */
export function buildOpenApiDocument(
  router: AppRouter,
  config: Pick<
    ServerConfig,
    | 'sseRetryMs'
    | 'pingIntervalMs'
    | 'maxBacklogBytes'
    | 'streamMaxLifetimeMs'
    | 'maxStreamsPerOwner'
    | 'maxUnfinishedPerOwner'
    | 'maxFailedAuth'
    | 'failedAuthWindowMs'
    | 'maxBatchCalls'
    | 'maxBodyBytes'
  >,
): Record<string, unknown> {
  // At run time tRPC keeps every procedure by its dotted path (`v2.executions.get`).
  const procedures = router._def.procedures as unknown as Record<
    string,
    { _def: { type: 'query' | 'mutation' | 'subscription'; inputs: z.ZodType[] } }
  >;
  const paths: Record<string, unknown> = {
    '/v1/executions/{operationId}/stream': { get: rawStreamOperation(config) },
  };
  for (const [path, procedure] of Object.entries(procedures)) {
    const name = path.split('.').at(-1) as string;
    const input = procedure._def.inputs[0];
    const inputSchema = input ? jsonSchema(input, 'input') : { type: 'object' };
    const inputParameter = {
      name: 'input',
      in: 'query',
      description: 'The procedure’s input as URL-encoded JSON.',
      required: procedure._def.type !== 'query' || name !== 'list',
      content: { 'application/json': { schema: inputSchema } },
    };
    const base = {
      operationId: path,
      tags: ['tRPC'],
      summary: SUMMARIES[name] ?? path,
    };
    if (procedure._def.type === 'mutation') {
      paths[`/v1/trpc/${path}`] = {
        post: {
          ...base,
          requestBody: { required: true, content: { 'application/json': { schema: inputSchema } } },
          responses: { '200': trpcResult(name), ...trpcErrors },
        },
      };
    } else if (procedure._def.type === 'query') {
      paths[`/v1/trpc/${path}`] = {
        get: {
          ...base,
          parameters: [inputParameter],
          responses: { '200': trpcResult(name), ...trpcErrors },
        },
      };
    } else {
      paths[`/v1/trpc/${path}`] = {
        get: {
          ...base,
          description:
            'What `httpSubscriptionLink` reads: `event: connected`, then each envelope as `data:` with `id: <cursor>`, `event: ping` while idle, `event: return` at the end, errors as `event: serialized-error` on the 200. Credentials may also come as `?connectionParams={"apiKey":…}`.',
          parameters: [
            inputParameter,
            { $ref: '#/components/parameters/Last-Event-ID' },
            {
              name: 'connectionParams',
              in: 'query',
              required: false,
              content: {
                'application/json': {
                  schema: { type: 'object', properties: { apiKey: { type: 'string' } } },
                },
              },
            },
          ],
          responses: {
            '200': {
              description: 'The stream, in tRPC’s SSE wire protocol',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
          },
        },
      };
    }
  }
  paths['/healthz'] = opsOperation('The process answers', 'healthz');
  paths['/readyz'] = opsOperation(
    'The store answers and the server is not shutting down',
    'readyz',
    {
      '503': errorResponse('Not ready (`NOT_READY`)'),
    },
  );
  paths['/v1/openapi.json'] = {
    get: {
      operationId: 'openapi',
      tags: ['ops'],
      summary: 'This document',
      security: [],
      responses: {
        '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: {} } } },
      },
    },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'execstream',
      version: '1.1.0',
      summary: 'Replayable execution streams',
      description: limitsDescription(config),
    },
    security: [{ apiKey: [] }],
    tags: [
      { name: 'streams', description: 'The raw SSE route' },
      { name: 'tRPC', description: 'tRPC v11 at /v1/trpc, no transformer' },
      { name: 'ops', description: 'Health and readiness' },
    ],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-KEY' } },
      schemas: {
        Envelope: jsonSchema(EnvelopeSchema),
        ExecutionSnapshot: jsonSchema(ExecutionSnapshotSchema),
        ErrorBody: {
          type: 'object',
          required: ['success', 'error'],
          properties: {
            success: { const: false },
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
        TrpcError: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['message', 'code', 'data'],
              properties: {
                message: { type: 'string' },
                code: { type: 'integer' },
                data: {
                  type: 'object',
                  required: ['code', 'httpStatus'],
                  properties: {
                    code: { type: 'string' },
                    httpStatus: { type: 'integer' },
                    path: { type: 'string' },
                    reason: { type: 'string' },
                    retryAfterSeconds: { type: 'integer' },
                  },
                },
              },
            },
          },
        },
      },
      headers: {
        'X-Request-Id': {
          description: 'The request’s id (the caller’s, when well-formed, else a new one)',
          schema: { type: 'string' },
        },
        'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } },
      },
      parameters: {
        'Last-Event-ID': {
          name: 'Last-Event-ID',
          in: 'header',
          required: false,
          description: 'Resume after this cursor (`0-0`: from the first retained event)',
          schema: { type: 'string', pattern: '^\\d{1,20}-\\d{1,20}$|^0$' },
        },
      },
    },
  };
}

function trpcResult(name: string) {
  const output = OUTPUTS[name];
  return {
    description: 'The result',
    headers: { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } },
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['result'],
          properties: {
            result: {
              type: 'object',
              required: ['data'],
              properties: { data: output ? jsonSchema(output) : {} },
            },
          },
        },
      },
    },
  };
}

function opsOperation(summary: string, operationId: string, errors: Record<string, unknown> = {}) {
  return {
    get: {
      operationId,
      tags: ['ops'],
      summary,
      security: [],
      responses: {
        '200': {
          description: summary,
          content: {
            'application/json': {
              schema: { type: 'object', properties: { status: { type: 'string' } } },
            },
          },
        },
        ...errors,
      },
    },
  };
}

function rawStreamOperation(config: Parameters<typeof buildOpenApiDocument>[1]) {
  return {
    operationId: 'streamExecution',
    tags: ['streams'],
    summary: 'Follow an execution over server-sent events, resuming from a cursor',
    description: [
      `The body starts with \`retry: ${config.sseRetryMs}\` alone, then one frame per event: \`id: <cursor>\`, \`event: <kind>\`, \`data: <envelope JSON>\` (schema \`Envelope\`). Every frame is named, one of: ${EVENT_KINDS.map((kind) => `\`${kind}\``).join(', ')}. A \`: ping\` comment every ${config.pingIntervalMs} ms while idle.`,
      'Without a cursor: an `execution.snapshot`, then live events. With the cursor of an event of this stream: the events after it. With a well-formed cursor that is not (trimmed, another stream’s): a snapshot (a resync), then live. `0-0`: every retained event.',
      `The stream ends after the terminal \`execution.state_changed\`, after ${config.streamMaxLifetimeMs} ms, on shutdown, or when the reader’s unsent backlog passes ${config.maxBacklogBytes} bytes; reconnect with the last cursor after the \`retry:\` delay. While the store is unreachable the answer is a 200 holding only \`retry:\`, never a 5xx.`,
      'Any other method: 405 with `Allow: GET`.',
    ].join('\n\n'),
    parameters: [
      {
        name: 'operationId',
        in: 'path',
        required: true,
        schema: jsonSchema(OperationIdSchema),
      },
      { $ref: '#/components/parameters/Last-Event-ID' },
      {
        name: 'lastEventId',
        in: 'query',
        required: false,
        description: 'The cursor, for clients that cannot set headers (the header wins)',
        schema: { type: 'string' },
      },
    ],
    responses: {
      '200': {
        description: 'The stream',
        headers: {
          'Cache-Control': { schema: { type: 'string', const: 'no-cache, no-transform' } },
          'X-Accel-Buffering': { schema: { type: 'string', const: 'no' } },
          'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
        },
        content: {
          'text/event-stream; charset=utf-8': {
            schema: { type: 'string' },
            example:
              'retry: 1000\n\nid: 1743163201000-0\nevent: execution.progress\ndata: {"streamId":"execution:op_123",…}\n\n',
          },
        },
      },
      '204': { description: 'The execution has ended and nothing follows the cursor: stop' },
      '400': errorResponse('`OPERATION_ID_INVALID` or `CURSOR_INVALID`'),
      '401': errorResponse('`UNAUTHORIZED`'),
      '404': errorResponse('`EXECUTION_NOT_FOUND` (or another owner’s)'),
      '429': errorResponse('`TOO_MANY_STREAMS` or `RATE_LIMITED`', 'ErrorBody', true),
    },
  };
}

function limitsDescription(config: Parameters<typeof buildOpenApiDocument>[1]): string {
  return [
    'Replayable execution streams. Reference: docs/api.md in the repository.',
    '',
    'Limits of this server:',
    `- open streams per principal, all surfaces: ${config.maxStreamsPerOwner} (429 \`TOO_MANY_STREAMS\`, Retry-After)`,
    `- executions not yet terminal per principal: ${config.maxUnfinishedPerOwner} (429, \`TOO_MANY_EXECUTIONS\`)`,
    `- failed credential checks per address: ${config.maxFailedAuth} per ${config.failedAuthWindowMs} ms (429 \`RATE_LIMITED\`)`,
    `- calls in one tRPC batch: ${config.maxBatchCalls} (400)`,
    `- request body: ${config.maxBodyBytes} bytes (413 \`PAYLOAD_TOO_LARGE\`)`,
  ].join('\n');
}
