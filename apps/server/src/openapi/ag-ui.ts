import { AG_UI_STREAM_EVENT_SCHEMAS, RunAgentInputSchema } from '@execstream/ag-ui';
import { STREAM_ERRORS, streamBehaviour } from './raw-stream.ts';
import {
  errorResponse,
  jsonSchema,
  type OpenApiConfig,
  type OpenApiGroup,
  ref,
  sseFrame,
} from './shared.ts';

/** `GET` and `POST /v1/ai/executions/{operationId}/ag-ui-stream` (CONTRACT §10). */
export function agUiGroup(config: OpenApiConfig): OpenApiGroup {
  const response = {
    description: 'The AG-UI events of the execution',
    headers: { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } },
    content: { 'text/event-stream': { schema: ref('AgUiStreamEvent') } },
  };
  const common = {
    tags: ['AG-UI'],
    description: [
      'The execution as an AG-UI run: `RUN_STARTED`, `STATE_SNAPSHOT` of the `ExecutionSnapshot`, then per canonical event a `STATE_DELTA` (RFC 6902) and what a chat or generation UI renders (steps, timeline messages as text messages, progress and result as TanStack AI’s `CUSTOM` events); `RUN_FINISHED` when completed, `RUN_ERROR` when failed or cancelled. Each frame’s `id:` resumes it as `Last-Event-ID`. docs/ag-ui.md',
      streamBehaviour(config),
    ].join('\n\n'),
    responses: {
      '200': response,
      '204': { description: 'The execution has ended and nothing follows the cursor: stop' },
      ...STREAM_ERRORS,
    },
  };
  const parameters = [
    { $ref: '#/components/parameters/operationId' },
    { $ref: '#/components/parameters/Last-Event-ID' },
    { $ref: '#/components/parameters/lastEventId' },
  ];
  return {
    tag: { name: 'AG-UI', description: 'The AG-UI stream, for AI front ends' },
    schemas: {
      AgUiEvent: {
        description: 'An AG-UI event (`@ag-ui/core` 1.x), one of the types this stream emits',
        oneOf: Object.values(AG_UI_STREAM_EVENT_SCHEMAS).map((schema) => jsonSchema(schema)),
      },
      AgUiStreamEvent: sseFrame({
        description: 'One frame of the AG-UI stream: `id:` a resume point, `data:` the event',
        id: 'The cursor of the canonical event it comes from, then `/` and a count',
        data: ref('AgUiEvent'),
      }),
      RunAgentInput: jsonSchema(RunAgentInputSchema, 'input'),
    },
    paths: {
      '/v1/ai/executions/{operationId}/ag-ui-stream': {
        get: {
          ...common,
          operationId: 'agUiStream',
          summary: 'Follow an execution as an AG-UI run',
          parameters,
        },
        post: {
          ...common,
          operationId: 'agUiRun',
          summary: 'Follow an execution as an AG-UI run, from `HttpAgent`’s `RunAgentInput`',
          parameters,
          requestBody: {
            required: false,
            description:
              'Its `forwardedProps.lastEventId`, or the `state.cursor` of this execution’s snapshot, resumes (the header wins)',
            content: { 'application/json': { schema: ref('RunAgentInput') } },
          },
          responses: {
            ...common.responses,
            '403': errorResponse(
              'A wallet-session cookie from an origin not allowed (`ORIGIN_NOT_ALLOWED`)',
            ),
            '413': errorResponse('Body over the limit (`PAYLOAD_TOO_LARGE`)'),
            '415': errorResponse('A body that is not JSON (`UNSUPPORTED_MEDIA_TYPE`)'),
          },
        },
      },
    },
  };
}
