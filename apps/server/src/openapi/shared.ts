import { OperationIdSchema } from '@execstream/event-schema';
import { z } from 'zod';
import type { ServerConfig } from '../config.ts';

/** What the document says of this server's settings. */
export type OpenApiConfig = Pick<
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
  | 'metricsToken'
>;

/** A Path Item: its operations by method. */
export type PathItem = Record<string, Record<string, unknown>>;

/**
 * One part of the HTTP surface, described where its routes are known: its tag, its paths and
 * the component schemas they alone use. `buildOpenApiDocument` joins the groups; a surface that
 * adds routes adds a group.
 */
export interface OpenApiGroup {
  tag: { name: string; description: string };
  paths: Record<string, PathItem>;
  schemas?: Record<string, unknown>;
}

/**
 * The JSON Schema keywords a generated schema keeps. zod copies a schema's `.meta()` into its
 * JSON Schema whatever the keys (`@ag-ui/core` marks some `specOpen`), which OpenAPI refuses.
 */
const KEYWORDS = new Set([
  '$ref',
  '$defs',
  'type',
  'const',
  'enum',
  'format',
  'pattern',
  'description',
  'title',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'propertyNames',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'oneOf',
  'anyOf',
  'allOf',
  'not',
  'contentMediaType',
  'contentEncoding',
  'contentSchema',
  'minProperties',
  'maxProperties',
]);

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a zod schema, without `$schema`. */
export function jsonSchema(
  schema: z.core.$ZodType,
  io: 'input' | 'output' = 'output',
): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: ({ jsonSchema: node }) => {
      const keyed = node as Record<string, unknown>;
      for (const key of Object.keys(keyed)) if (!KEYWORDS.has(key)) delete keyed[key];
      // `anything or null` is anything: an `anyOf` with an empty branch says nothing more.
      if (node.anyOf?.some((branch) => Object.keys(branch).length === 0)) delete node.anyOf;
    },
  });
  return rest;
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const header = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** An error answer in the CONTRACT §7 shape (or tRPC's, with `schema: 'TrpcError'`). */
export function errorResponse(
  description: string,
  options: { schema?: 'ErrorBody' | 'TrpcError'; retryAfter?: boolean } = {},
) {
  return {
    description,
    headers: {
      'X-Request-Id': header('X-Request-Id'),
      ...(options.retryAfter ? { 'Retry-After': header('Retry-After') } : {}),
    },
    content: { 'application/json': { schema: ref(options.schema ?? 'ErrorBody') } },
  };
}

/** Every route answers a request without a usable `Host` so (RFC 9112 §3.2). */
export const BAD_HOST = errorResponse('A missing, repeated or malformed `Host` (`BAD_REQUEST`)');

/** A 200 with a JSON body. */
export function jsonResponse(description: string, schema: unknown) {
  return {
    description,
    headers: { 'X-Request-Id': header('X-Request-Id') },
    content: { 'application/json': { schema } },
  };
}

/**
 * The schema of one server-sent event, for a `text/event-stream` response: its `id:`, its
 * `event:` name and its `data:`, a JSON text whose own schema is `data` (JSON Schema's
 * `contentMediaType` and `contentSchema`).
 */
export function sseFrame(fields: {
  description: string;
  id: string;
  event?: Record<string, unknown>;
  data: Record<string, unknown>;
}) {
  return {
    type: 'object',
    description: fields.description,
    required: ['id', 'data', ...(fields.event ? ['event'] : [])],
    properties: {
      id: { type: 'string', description: fields.id },
      ...(fields.event ? { event: fields.event } : {}),
      data: { type: 'string', contentMediaType: 'application/json', contentSchema: fields.data },
    },
  };
}

/** The components every group may use. */
export const SHARED_COMPONENTS = {
  schemas: {
    ErrorBody: {
      type: 'object',
      description: 'Every error outside tRPC (CONTRACT §7)',
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
  },
  headers: {
    'X-Request-Id': {
      description: 'The request’s id (the caller’s, when well-formed and no credential, else new)',
      schema: { type: 'string' },
    },
    'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } },
  },
  parameters: {
    operationId: {
      name: 'operationId',
      in: 'path',
      required: true,
      schema: jsonSchema(OperationIdSchema),
    },
    'Last-Event-ID': {
      name: 'Last-Event-ID',
      in: 'header',
      required: false,
      description:
        'Resume after this cursor (`0` or `0-0`: from the first retained event); docs/api.md §4',
      schema: { type: 'string', pattern: '^(\\d{1,20}-\\d{1,20}|0)$' },
    },
    lastEventId: {
      name: 'lastEventId',
      in: 'query',
      required: false,
      description: 'The cursor, for clients that cannot set headers (the header wins)',
      schema: { type: 'string' },
    },
  },
} as const;
