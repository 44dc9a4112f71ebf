import {
  EVENT_KINDS,
  ExecutionStatusSchema,
  ExecutionTypeSchema,
  OperationIdSchema,
} from '@execstream/event-schema';
import type { AppRouter } from '@execstream/trpc';
import { z } from 'zod';
import {
  errorResponse,
  jsonResponse,
  jsonSchema,
  type OpenApiConfig,
  type OpenApiGroup,
  type PathItem,
  ref,
  sseFrame,
} from './shared.ts';

const nullableString = { type: ['string', 'null'] };

/** What the procedures return (the router's outputs are not zod schemas). */
const OUTPUTS: Record<string, unknown> = {
  get: ref('ExecutionSnapshot'),
  cancel: ref('ExecutionSnapshot'),
  submit: jsonSchema(z.object({ operationId: OperationIdSchema, submittedAt: z.iso.datetime() })),
  list: {
    type: 'object',
    required: ['items', 'nextCursor'],
    properties: {
      items: {
        type: 'array',
        items: jsonSchema(
          z.object({
            operationId: OperationIdSchema,
            type: ExecutionTypeSchema,
            status: ExecutionStatusSchema,
            createdAt: z.iso.datetime(),
            updatedAt: z.iso.datetime(),
            finishedAt: z.iso.datetime().nullable(),
          }),
        ),
      },
      nextCursor: nullableString,
    },
  },
  detail: {
    type: 'object',
    required: ['snapshot', 'events', 'nextCursor', 'retention'],
    properties: {
      snapshot: ref('ExecutionSnapshot'),
      events: { type: 'array', items: ref('Envelope') },
      nextCursor: nullableString,
      retention: {
        type: 'object',
        required: ['firstCursor', 'lastCursor', 'length'],
        properties: {
          firstCursor: nullableString,
          lastCursor: nullableString,
          length: { type: 'integer', minimum: 0 },
        },
      },
    },
  },
};

const SUMMARIES: Record<string, string> = {
  stream: 'Follow an execution (tRPC subscription, in tRPC’s SSE wire protocol)',
  get: 'The snapshot of an execution, for hydration',
  detail: 'The retained history of an execution, paged',
  list: 'The caller’s executions, newest first, paged by cursor',
  submit: 'Submit an execution (idempotent per owner and idempotencyKey)',
  cancel: 'Cancel an execution; answers the snapshot after the request',
};

const trpcError = (description: string, retryAfter = false) =>
  errorResponse(description, { schema: 'TrpcError', retryAfter });

const TRPC_ERRORS = {
  '400': trpcError('Invalid input (`BAD_REQUEST`), or a batch over the limit'),
  '401': trpcError('Missing or invalid credentials (`UNAUTHORIZED`)'),
  '404': trpcError('No such execution for this owner (`NOT_FOUND`)'),
  '429': trpcError(
    'A limit (`TOO_MANY_REQUESTS`; `data.reason`: `TOO_MANY_EXECUTIONS`, `TOO_MANY_STREAMS`, `RATE_LIMITED`)',
    true,
  ),
  '503': trpcError('The store is unreachable (`SERVICE_UNAVAILABLE`)'),
};

const MUTATION_ERRORS = {
  ...TRPC_ERRORS,
  '403': trpcError('A wallet-session cookie from an origin not allowed (`FORBIDDEN`)'),
  '413': trpcError('Body over the limit (`PAYLOAD_TOO_LARGE`)'),
  '415': trpcError('A body that is not JSON (`UNSUPPORTED_MEDIA_TYPE`)'),
};

/** `v2.executions.*` at `/v1/trpc`, one path per procedure, each from its own input schema. */
export function trpcGroup(router: AppRouter, config: OpenApiConfig): OpenApiGroup {
  // At run time tRPC keeps every procedure by its dotted path (`v2.executions.get`).
  const procedures = router._def.procedures as unknown as Record<
    string,
    { _def: { type: 'query' | 'mutation' | 'subscription'; inputs: z.core.$ZodType[] } }
  >;
  const paths: Record<string, PathItem> = {};
  for (const [path, procedure] of Object.entries(procedures)) {
    const name = path.split('.').at(-1) as string;
    const input = procedure._def.inputs[0];
    const inputSchema = input ? jsonSchema(input, 'input') : { type: 'object' };
    const inputParameter = {
      name: 'input',
      in: 'query',
      description: 'The procedure’s input as URL-encoded JSON.',
      required: name !== 'list',
      content: { 'application/json': { schema: inputSchema } },
    };
    const base = { operationId: path, tags: ['tRPC'], summary: SUMMARIES[name] ?? path };
    const result = jsonResponse('The result', {
      type: 'object',
      required: ['result'],
      properties: {
        result: { type: 'object', required: ['data'], properties: { data: OUTPUTS[name] ?? {} } },
      },
    });
    if (procedure._def.type === 'mutation') {
      paths[`/v1/trpc/${path}`] = {
        post: {
          ...base,
          requestBody: { required: true, content: { 'application/json': { schema: inputSchema } } },
          responses: { '200': result, ...MUTATION_ERRORS },
        },
      };
    } else if (procedure._def.type === 'query') {
      paths[`/v1/trpc/${path}`] = {
        get: {
          ...base,
          parameters: [inputParameter],
          responses: { '200': result, ...TRPC_ERRORS },
        },
      };
    } else {
      paths[`/v1/trpc/${path}`] = {
        get: {
          ...base,
          description: `What \`httpSubscriptionLink\` reads: \`event: connected\`, then each envelope as \`data:\` with \`id: <cursor>\`, \`event: ping\` every ${config.pingIntervalMs} ms while idle, \`event: return\` at the end, errors as \`event: serialized-error\` on the 200. Credentials may also come as \`?connectionParams={"apiKey":…}\` (an EventSource sets no header).`,
          parameters: [
            inputParameter,
            { $ref: '#/components/parameters/Last-Event-ID' },
            {
              name: 'connectionParams',
              in: 'query',
              required: false,
              description: 'What `httpSubscriptionLink` sends for clients that set no header',
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
              headers: { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } },
              content: { 'text/event-stream': { schema: ref('TrpcStreamEvent') } },
            },
            ...TRPC_ERRORS,
          },
        },
      };
    }
  }
  return {
    tag: { name: 'tRPC', description: 'tRPC v11 at /v1/trpc, no transformer' },
    schemas: {
      TrpcError: {
        type: 'object',
        description: 'A tRPC error: its `TRPCError` code in `data.code`',
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
      TrpcStreamEvent: sseFrame({
        description: `One event of the subscription: an envelope (no \`event:\` line; its \`data:\` is byte-identical to the raw route's), or a control event (\`connected\`, \`ping\`, \`return\`, \`serialized-error\`). Kinds: ${EVENT_KINDS.join(', ')}.`,
        id: 'The envelope’s cursor (tracked): an EventSource resumes with it',
        data: ref('Envelope'),
      }),
    },
    paths,
  };
}
