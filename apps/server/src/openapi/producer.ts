import { ExecutionStatusSchema } from '@execstream/event-schema';
import { z } from 'zod';
import { ProducerAnswers, ProducerSchemas } from '../routes/producer.ts';
import {
  errorResponse,
  jsonResponse,
  jsonSchema,
  type OpenApiGroup,
  type PathItem,
  ref,
} from './shared.ts';

const security = [{ producerKey: [] }];
const operationIdParameter = { $ref: '#/components/parameters/operationId' };

const PRODUCER_ERRORS = {
  '400': errorResponse('Invalid input (`INVALID_INPUT`, `OPERATION_ID_INVALID`), or a bad `Host`'),
  '401': errorResponse('Missing or invalid producer key (`UNAUTHORIZED`)'),
  '403': errorResponse('Not a producer key (`FORBIDDEN`)'),
  '429': errorResponse('Too many failed checks or appends (`RATE_LIMITED`)', { retryAfter: true }),
  '503': errorResponse('The store is unreachable (`STORE_UNAVAILABLE`)'),
};
const NOT_FOUND = errorResponse('No such execution (`EXECUTION_NOT_FOUND`)');
const LEASE_LOST = errorResponse('The lease is not this token’s (`LEASE_LOST`)');

const body = (schema: string) => ({
  required: true,
  content: { 'application/json': { schema: ref(schema) } },
});

/** The producer API (CONTRACT §12): workers in any language create, claim and report. */
export function producerGroup(): OpenApiGroup {
  const execution = (lease: unknown) => ({
    type: 'object',
    required: ['operationId', 'ownerId', 'type', 'params', 'status', 'sequence', 'cursor', 'lease'],
    properties: {
      operationId: { type: 'string' },
      ownerId: { type: 'string' },
      type: { type: 'string' },
      params: { type: 'object' },
      status: jsonSchema(ExecutionStatusSchema),
      sequence: { type: 'integer' },
      cursor: { type: 'string' },
      lease,
    },
  });
  const paths: Record<string, PathItem> = {
    '/v1/producer/executions': {
      post: {
        operationId: 'producerCreate',
        tags: ['producer'],
        summary: 'Create an execution for an owner (once per operationId)',
        security,
        requestBody: body('ProducerCreateInput'),
        responses: {
          '200': jsonResponse('Created before, with the same body', ref('ProducerCreated')),
          '201': jsonResponse('Created', ref('ProducerCreated')),
          '409': errorResponse('The operationId exists with another body (`CONFLICT`)'),
          ...PRODUCER_ERRORS,
        },
      },
    },
    '/v1/producer/claims': {
      post: {
        operationId: 'producerClaim',
        tags: ['producer'],
        summary: 'Claim the oldest claimable execution, waiting up to waitMs',
        security,
        requestBody: body('ProducerClaimInput'),
        responses: {
          '200': jsonResponse(
            'A claim: its lease holds the token',
            ref('ProducerClaimedExecution'),
          ),
          '204': { description: 'Nothing to claim within waitMs' },
          ...PRODUCER_ERRORS,
        },
      },
    },
    '/v1/producer/executions/{operationId}': {
      get: {
        operationId: 'producerHead',
        tags: ['producer'],
        summary: 'An execution’s head and lease, as a worker sees them',
        security,
        parameters: [operationIdParameter],
        responses: {
          '200': jsonResponse(
            'The head',
            execution({
              oneOf: [
                {
                  type: 'object',
                  required: ['expiresAt'],
                  properties: { expiresAt: { type: 'string', format: 'date-time' } },
                },
                { type: 'null' },
              ],
            }),
          ),
          '404': NOT_FOUND,
          ...PRODUCER_ERRORS,
        },
      },
    },
    '/v1/producer/executions/{operationId}/lease': {
      put: {
        operationId: 'producerRenewLease',
        tags: ['producer'],
        summary: 'Renew a lease',
        security,
        parameters: [operationIdParameter],
        requestBody: body('ProducerRenewInput'),
        responses: {
          '200': jsonResponse('Renewed', ref('ProducerLease')),
          '404': NOT_FOUND,
          '409': LEASE_LOST,
          ...PRODUCER_ERRORS,
        },
      },
      delete: {
        operationId: 'producerReleaseLease',
        tags: ['producer'],
        summary: 'Release a lease',
        security,
        parameters: [operationIdParameter],
        requestBody: body('ProducerReleaseInput'),
        responses: {
          '204': { description: 'Released' },
          '404': NOT_FOUND,
          '409': LEASE_LOST,
          ...PRODUCER_ERRORS,
        },
      },
    },
    '/v1/producer/executions/{operationId}/events': {
      post: {
        operationId: 'producerAppend',
        tags: ['producer'],
        summary: 'Append a batch of events, atomically',
        security,
        parameters: [
          operationIdParameter,
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: 'The same key within 24 hours answers the first result, appends nothing',
            schema: { type: 'string', maxLength: 256 },
          },
        ],
        requestBody: body('ProducerAppendInput'),
        responses: {
          '201': {
            ...jsonResponse('Appended', ref('ProducerAppended')),
            headers: {
              ...jsonResponse('Appended', ref('ProducerAppended')).headers,
              'Idempotent-Replayed': {
                description:
                  'Present when the `Idempotency-Key` was seen: the answer is the first one’s, and nothing was appended',
                schema: { const: 'true' },
              },
            },
          },
          '404': NOT_FOUND,
          '409': {
            ...errorResponse(
              '`SEQUENCE_CONFLICT` (with the head’s `sequence` and `cursor`), `EXECUTION_TERMINAL` or `LEASE_LOST`',
            ),
            content: { 'application/json': { schema: ref('ProducerAppendConflict') } },
          },
          '422': errorResponse('An event that is not valid here (`INVALID_EVENT`, naming it)'),
          ...PRODUCER_ERRORS,
        },
      },
    },
  };
  return {
    tag: { name: 'producer', description: 'The producer API, for workers in any language' },
    schemas: {
      ProducerCreateInput: jsonSchema(ProducerSchemas.create, 'input'),
      ProducerClaimInput: jsonSchema(ProducerSchemas.claim, 'input'),
      ProducerRenewInput: jsonSchema(ProducerSchemas.renew, 'input'),
      ProducerReleaseInput: jsonSchema(ProducerSchemas.release, 'input'),
      ProducerAppendInput: {
        ...jsonSchema(ProducerSchemas.append, 'input'),
        properties: {
          ...(jsonSchema(ProducerSchemas.append, 'input').properties as object),
          events: {
            type: 'array',
            description: 'Each `{kind, payload}` of CONTRACT §3 (not `execution.snapshot`)',
            items: jsonSchema(
              z.object({ kind: z.string(), payload: z.record(z.string(), z.unknown()) }),
              'input',
            ),
          },
        },
      },
      ProducerAppendConflict: {
        description: 'A refused append; `SEQUENCE_CONFLICT` carries the head it found',
        allOf: [
          ref('ErrorBody'),
          {
            anyOf: [
              {
                properties: {
                  error: {
                    required: ['head'],
                    properties: {
                      code: { const: 'SEQUENCE_CONFLICT' },
                      head: {
                        type: 'object',
                        required: ['sequence', 'cursor'],
                        properties: {
                          sequence: { type: 'integer', minimum: 0 },
                          cursor: { type: 'string' },
                        },
                      },
                    },
                  },
                },
              },
              {
                properties: {
                  error: { properties: { code: { enum: ['EXECUTION_TERMINAL', 'LEASE_LOST'] } } },
                },
              },
            ],
          },
        ],
      },
      ProducerCreated: jsonSchema(ProducerAnswers.created),
      ProducerAppended: jsonSchema(ProducerAnswers.appended),
      ProducerLease: jsonSchema(ProducerAnswers.lease),
      ProducerClaimedExecution: execution({
        type: 'object',
        required: ['token', 'expiresAt'],
        properties: {
          token: { type: 'string' },
          expiresAt: { type: 'string', format: 'date-time' },
        },
      }),
    },
    paths,
  };
}
