import { SESSION_COOKIE } from '@execstream/auth';
import { EnvelopeSchema, ExecutionSnapshotSchema } from '@execstream/event-schema';
import type { AppRouter } from '@execstream/trpc';
import { agUiGroup } from './ag-ui.ts';
import { authGroup } from './auth.ts';
import { opsGroup } from './ops.ts';
import { producerGroup } from './producer.ts';
import { rawStreamGroup } from './raw-stream.ts';
import { jsonSchema, type OpenApiConfig, type OpenApiGroup, SHARED_COMPONENTS } from './shared.ts';
import { trpcGroup } from './trpc.ts';
import { webAppGroup } from './web-app.ts';

export type { OpenApiConfig, OpenApiGroup } from './shared.ts';

export interface OpenApiOptions {
  /** The origin clients use (`EXECSTREAM_PUBLIC_URL`): the document's one server. */
  publicUrl: string;
  /** Whether `/metrics` is served on this port. */
  metricsHere: boolean;
  /** The web app's build, when served: whether it has assets. */
  webApp: { assets: boolean } | null;
}

/**
 * The OpenAPI 3.1 document of every route the server registers, generated from the zod schemas
 * it validates with (the envelope and snapshot of @execstream/event-schema, each tRPC procedure's
 * input, the sign-in bodies, `@ag-ui/core`'s events), joined from one group per surface. Served
 * at `GET /v1/openapi.json`; a test holds it to Fastify's route table and to `redocly lint`.
 */
export function buildOpenApiDocument(
  router: AppRouter,
  config: OpenApiConfig,
  options: OpenApiOptions,
): Record<string, unknown> {
  const groups: OpenApiGroup[] = [
    rawStreamGroup(config),
    agUiGroup(config),
    trpcGroup(router, config),
    authGroup(),
    producerGroup(),
    opsGroup({ metricsHere: options.metricsHere, metricsToken: config.metricsToken !== null }),
    ...(options.webApp ? [webAppGroup(options.webApp)] : []),
  ];
  return {
    openapi: '3.1.0',
    info: {
      title: 'execstream',
      version: '1.2.0',
      summary: 'Replayable execution streams',
      description: limitsDescription(config),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: options.publicUrl, description: 'This server' }],
    // Either credential, on every route that does not say otherwise.
    security: [{ apiKey: [] }, { walletSession: [] }],
    tags: groups.map((group) => group.tag),
    paths: Object.assign({}, ...groups.map((group) => group.paths)),
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-KEY', description: 'An API key' },
        walletSession: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description:
            'The wallet session set by `POST /v1/auth/siwe/verify`; a write with it must come from an allowed origin',
        },
        producerKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-API-KEY',
          description: 'A producer key: accepted on /v1/producer/* only, and only it there',
        },
        ...(config.metricsToken !== null
          ? { metricsToken: { type: 'http', scheme: 'bearer', description: 'For /metrics' } }
          : {}),
      },
      schemas: {
        Envelope: jsonSchema(EnvelopeSchema),
        ExecutionSnapshot: jsonSchema(ExecutionSnapshotSchema),
        ...SHARED_COMPONENTS.schemas,
        ...Object.assign({}, ...groups.map((group) => group.schemas ?? {})),
      },
      headers: SHARED_COMPONENTS.headers,
      parameters: SHARED_COMPONENTS.parameters,
    },
  };
}

function limitsDescription(config: OpenApiConfig): string {
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
