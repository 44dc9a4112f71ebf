import { EVENT_KINDS } from '@execstream/event-schema';
import { errorResponse, type OpenApiConfig, type OpenApiGroup, sseFrame } from './shared.ts';

/** What every stream surface says of where a stream starts and how it ends (docs/api.md §4). */
export function streamBehaviour(config: OpenApiConfig): string {
  return [
    'Without a cursor: an `execution.snapshot`, then live events. With the cursor of an event of this stream: the events after it, then live. With a well-formed cursor that is not one (trimmed, another stream’s): a snapshot (a resync), then live. `0` or `0-0`: every retained event (the head’s snapshot when the first was trimmed).',
    `The stream ends after the terminal \`execution.state_changed\`, after ${config.streamMaxLifetimeMs} ms, on shutdown, or when the reader’s unsent backlog passes ${config.maxBacklogBytes} bytes; reconnect with the last cursor after the \`retry:\` delay (${config.sseRetryMs} ms). While the store is unreachable the answer is a 200 holding only \`retry:\`, never a 5xx. A \`: ping\` comment every ${config.pingIntervalMs} ms while idle.`,
  ].join('\n\n');
}

/** The errors a stream request may get before its stream opens (CONTRACT §7, §8). */
export const STREAM_ERRORS = {
  '400': errorResponse(
    '`OPERATION_ID_INVALID` or `CURSOR_INVALID`, or a malformed `Host` (`BAD_REQUEST`)',
  ),
  '401': errorResponse('`UNAUTHORIZED`'),
  '404': errorResponse('`EXECUTION_NOT_FOUND` (an unknown execution and another owner’s alike)'),
  '405': errorResponse('Any other method (`METHOD_NOT_ALLOWED`, with `Allow`)'),
  '429': errorResponse('`TOO_MANY_STREAMS` or `RATE_LIMITED`', { retryAfter: true }),
};

/** `GET /v1/executions/{operationId}/stream`: the raw SSE route (CONTRACT §5). */
export function rawStreamGroup(config: OpenApiConfig): OpenApiGroup {
  return {
    tag: { name: 'streams', description: 'The raw SSE route, for CLIs and integrators' },
    schemas: {
      ExecutionStreamEvent: sseFrame({
        description:
          'One frame of the raw SSE route: `id:` the cursor, `event:` the kind, `data:` the envelope. The body opens with `retry:` alone.',
        id: 'The event’s cursor: send it back as `Last-Event-ID` to resume after it',
        event: { type: 'string', enum: [...EVENT_KINDS] },
        data: { $ref: '#/components/schemas/Envelope' },
      }),
    },
    paths: {
      '/v1/executions/{operationId}/stream': {
        get: {
          operationId: 'streamExecution',
          tags: ['streams'],
          summary: 'Follow an execution over server-sent events, resuming from a cursor',
          description: [
            'Every frame is named with its kind: an EventSource’s `onmessage` gets nothing; add a listener per kind.',
            streamBehaviour(config),
          ].join('\n\n'),
          parameters: [
            { $ref: '#/components/parameters/operationId' },
            { $ref: '#/components/parameters/Last-Event-ID' },
            { $ref: '#/components/parameters/lastEventId' },
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
                'text/event-stream': {
                  schema: { $ref: '#/components/schemas/ExecutionStreamEvent' },
                },
              },
            },
            '204': { description: 'The execution has ended and nothing follows the cursor: stop' },
            ...STREAM_ERRORS,
          },
        },
      },
    },
  };
}
