import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ExecutionProducer } from '@execstream/stream-service';
import { validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { producerCall } from './support/producer.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { readSse } from './support/sse.ts';
import { newWallet, signIn } from './support/wallet.ts';

// biome-ignore lint/suspicious/noExplicitAny: a JSON document read by path below
type Document = any;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** The procedures `/v1/trpc/*` serves, each its own path in the document. */
const PROCEDURES = ['cancel', 'detail', 'get', 'list', 'stream', 'submit'];

async function documentOf(server: RunningServer): Promise<Document> {
  const response = await fetch(`${server.url}/v1/openapi.json`);
  expect(response.status).toBe(200);
  return response.json();
}

/** A built web app: its page and one hashed asset. */
function webBuild(): { root: string; [Symbol.dispose](): void } {
  const root = mkdtempSync(join(tmpdir(), 'execstream-web-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><html><head></head><body></body></html>');
  writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
  return { root, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Fastify's route table as OpenAPI paths: `:name` as `{name}`, tRPC's wildcard as one path per
 * procedure, the web app's asset routes (one per built file) as `/assets/{file}`.
 */
function routeTablePaths(server: RunningServer): Map<string, Set<string>> {
  const paths = new Map<string, Set<string>>();
  const add = (path: string, method: string) => {
    const methods = paths.get(path) ?? new Set();
    methods.add(method.toLowerCase());
    paths.set(path, methods);
  };
  for (const { method, url } of server.routes) {
    if (url === '/v1/trpc/*') {
      for (const name of PROCEDURES) add(`/v1/trpc/v2.executions.${name}`, method);
    } else if (url.startsWith('/assets/')) {
      add('/assets/{file}', method);
    } else {
      add(url.replace(/:(\w+)/g, '{$1}'), method);
    }
  }
  return paths;
}

/** `redocly lint` with its recommended rules, offline: its JSON report's totals. */
async function redoclyLint(document: Document) {
  const dir = mkdtempSync(join(tmpdir(), 'execstream-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(document));
    const require = createRequire(import.meta.url);
    const cli = join(dirname(require.resolve('@redocly/cli/package.json')), 'bin', 'cli.js');
    const run = await promisify(execFile)(
      process.execPath,
      [cli, 'lint', '--extends=recommended', '--format=json', file],
      {
        cwd: dir,
        env: {
          ...process.env,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        },
      },
    ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const report = JSON.parse(run.stdout);
    return {
      totals: report.totals,
      problems: report.problems.map(
        (problem: { ruleId: string; message: string; location: { pointer: string }[] }) =>
          `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`,
      ),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DOCUMENT_ID = 'https://execstream.invalid/openapi.json';

/**
 * Checks values against the document's own schemas with a JSON Schema 2020-12 validator: the
 * schema of a response (path, method, status, media type) or of a component.
 */
function documentValidator(document: Document) {
  // The document's refs made absolute, so a schema taken out of it still finds its components.
  const absolute = JSON.parse(
    JSON.stringify(document).replaceAll('"#/components/', `"${DOCUMENT_ID}#/components/`),
  );
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ ...absolute, $id: DOCUMENT_ID });
  const check = (schema: object, value: unknown, where: string) => {
    const validate = ajv.compile(schema);
    expect(validate(value) ? [] : validate.errors, where).toEqual([]);
  };
  return {
    response(path: string, method: string, status: number, value: unknown) {
      const content = absolute.paths[path][method].responses[String(status)].content;
      check(content['application/json'].schema, value, `${method} ${path} ${status}`);
    },
    header(path: string, method: string, status: number, name: string, value: unknown) {
      const headers = absolute.paths[path][method].responses[String(status)].headers;
      check(headers[name].schema, value, `${method} ${path} ${status} ${name}`);
    },
    component(name: string, value: unknown) {
      check({ $ref: `${DOCUMENT_ID}#/components/schemas/${name}` }, value, name);
    },
  };
}

describe('GET /v1/openapi.json', () => {
  it('describes every route Fastify serves, and nothing else, however the server is set up', async () => {
    using web = webBuild();
    for (const [env, webRoot] of [
      [{}, undefined],
      [{ EXECSTREAM_METRICS_TOKEN: 'metrics-token-0123456789' }, web.root],
      [{ EXECSTREAM_METRICS_PORT: '0' }, web.root],
    ] as const) {
      await using server = await startTestServer(env, webRoot ? { webRoot } : {});
      const document = await documentOf(server);
      const routes = routeTablePaths(server);
      expect(Object.keys(document.paths).sort(), JSON.stringify(env)).toEqual(
        [...routes.keys()].sort(),
      );
      for (const [path, item] of Object.entries<Record<string, unknown>>(document.paths)) {
        for (const method of Object.keys(item).filter((key) => METHODS.includes(key))) {
          expect(routes.get(path)?.has(method), `${method} ${path}`).toBe(true);
        }
      }
      expect(document.servers).toEqual([{ url: server.publicUrl, description: 'This server' }]);
    }
  });

  it('passes redocly lint with its recommended rules: 0 errors, 0 warnings', async () => {
    using web = webBuild();
    await using server = await startTestServer(
      { EXECSTREAM_METRICS_TOKEN: 'metrics-token-0123456789' },
      { webRoot: web.root },
    );
    const { totals, problems } = await redoclyLint(await documentOf(server));
    expect(problems).toEqual([]);
    expect(totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('is a valid OpenAPI 3.1 document generated from the zod schemas, with typed stream events', async () => {
    await using server = await startTestServer();
    const document = await documentOf(server);
    const result = await validate(structuredClone(document));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(document.openapi).toBe('3.1.0');
    // Both credentials, the cookie one included.
    expect(document.components.securitySchemes.walletSession).toEqual(
      expect.objectContaining({ type: 'apiKey', in: 'cookie', name: 'execstream_session' }),
    );
    expect(document.security).toEqual([{ apiKey: [] }, { walletSession: [] }]);
    // The kinds of the envelope come from the zod discriminated union, one branch per kind.
    const kinds = document.components.schemas.Envelope.oneOf.map(
      (branch: { properties: { kind: { const: string } } }) => branch.properties.kind.const,
    );
    expect(kinds).toHaveLength(6);
    // Each stream's `data:` is typed through a component: the envelope, or an AG-UI event.
    const frame = (path: string, method = 'get') =>
      document.paths[path][method].responses['200'].content['text/event-stream'].schema.$ref;
    const schemaOf = (ref: string) => document.components.schemas[ref.split('/').at(-1) as string];
    const raw = schemaOf(frame('/v1/executions/{operationId}/stream'));
    expect(raw.properties.data.contentSchema).toEqual({ $ref: '#/components/schemas/Envelope' });
    expect(raw.properties.event.enum).toEqual(kinds);
    expect(schemaOf(frame('/v1/trpc/v2.executions.stream')).properties.data.contentSchema).toEqual({
      $ref: '#/components/schemas/Envelope',
    });
    const agUi = schemaOf(frame('/v1/ai/executions/{operationId}/ag-ui-stream', 'post'));
    expect(agUi.properties.data.contentSchema).toEqual({ $ref: '#/components/schemas/AgUiEvent' });
    // Hydration and history answer the snapshot and envelopes themselves.
    const data = (path: string) =>
      document.paths[path].get.responses['200'].content['application/json'].schema.properties.result
        .properties.data;
    expect(data('/v1/trpc/v2.executions.get')).toEqual({
      $ref: '#/components/schemas/ExecutionSnapshot',
    });
    expect(data('/v1/trpc/v2.executions.detail').properties.events.items).toEqual({
      $ref: '#/components/schemas/Envelope',
    });
    // Each procedure's input is its own zod schema: limits included.
    const detail = document.paths['/v1/trpc/v2.executions.detail'].get;
    expect(detail.parameters[0].content['application/json'].schema.properties.limit).toEqual({
      type: 'integer',
      minimum: 1,
      maximum: 1000,
    });

    // Every AG-UI event a real run sends is of a type the document names.
    const documented = new Set(
      document.components.schemas.AgUiEvent.oneOf.map(
        (branch: { properties: { type: { const: string } } }) => branch.properties.type.const,
      ),
    );
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();
    await producer.progress(50, { step: 'swap' });
    await producer.timeline('Swap submitted onchain', { step: 'swap' });
    await producer.complete({ ok: true });
    const read = await readSse(
      `${server.url}/v1/ai/executions/${record.operationId}/ag-ui-stream?lastEventId=0`,
      { 'X-API-KEY': OWNER_A.key },
    );
    const sent = new Set(read.messages.map((message) => JSON.parse(message.data).type));
    expect(sent.size).toBeGreaterThan(5);
    for (const type of sent) expect(documented.has(type), type).toBe(true);

    const post = await fetch(`${server.url}/v1/openapi.json`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('describes what the server really answers: bodies, stream events and errors pass its schemas', async () => {
    await using server = await startTestServer();
    const document = await documentOf(server);
    const check = documentValidator(document);
    const asA = { 'X-API-KEY': OWNER_A.key, 'Content-Type': 'application/json' };
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: asA,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: await response.json() };
    };
    const query = (name: string, input: unknown) =>
      `/v1/trpc/v2.executions.${name}?input=${encodeURIComponent(JSON.stringify(input))}`;

    const submitted = await call('POST', '/v1/trpc/v2.executions.submit', { type: 'swap' });
    check.response('/v1/trpc/v2.executions.submit', 'post', 200, submitted.body);
    const { operationId } = submitted.body.result.data;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    await producer.progress(40, { step: 'swap', message: 'Swapping' });
    await producer.timeline('Swap submitted onchain', {
      step: 'swap',
      txHash: '0xabc',
      chainId: 8453,
    });
    await producer.complete({ amountOut: '0.031' }, 'Swapped');
    for (const [name, input] of [
      ['get', { operationId }],
      ['detail', { operationId, limit: 3 }],
      ['list', {}],
    ] as const) {
      const answer = await call('GET', query(name, input));
      expect(answer.status, name).toBe(200);
      check.response(`/v1/trpc/v2.executions.${name}`, 'get', 200, answer.body);
    }
    const cancelled = await call('POST', '/v1/trpc/v2.executions.cancel', { operationId });
    check.response('/v1/trpc/v2.executions.cancel', 'post', 200, cancelled.body);

    // Every frame's data, on each stream surface, is what its component says.
    const raw = await readSse(
      `${server.url}/v1/executions/${operationId}/stream?lastEventId=0`,
      asA,
    );
    expect(raw.messages.length).toBeGreaterThan(4);
    for (const message of raw.messages) check.component('Envelope', JSON.parse(message.data));
    const agUi = await readSse(
      `${server.url}/v1/ai/executions/${operationId}/ag-ui-stream?lastEventId=0`,
      asA,
    );
    for (const message of agUi.messages) check.component('AgUiEvent', JSON.parse(message.data));

    // Errors, in both shapes, and the other routes' bodies.
    const unknown = await call(
      'GET',
      query('get', { operationId: 'op_01JWZEE2MF30KVRMRX53N88VA4' }),
    );
    check.response('/v1/trpc/v2.executions.get', 'get', 404, unknown.body);
    const anonymous = await fetch(`${server.url}/v1/executions/${operationId}/stream`);
    check.response('/v1/executions/{operationId}/stream', 'get', 401, await anonymous.json());
    check.response('/v1/auth/session', 'get', 200, (await call('GET', '/v1/auth/session')).body);
    const { cookie } = await signIn(server.url, newWallet());
    const session = await fetch(`${server.url}/v1/auth/session`, { headers: { cookie } });
    check.response('/v1/auth/session', 'get', 200, await session.json());
    check.response('/healthz', 'get', 200, (await call('GET', '/healthz')).body);
  });

  it('describes what the producer API really answers', async () => {
    await using server = await startTestServer();
    const check = documentValidator(await documentOf(server));
    const call = (method: string, path: string, body?: unknown, headers = {}) =>
      producerCall(server.url, method, path, body, headers);
    // Without params too: the answers' schemas must not ask for what a run may lack.
    for (const [type, params] of [
      ['swap', undefined],
      ['bridge', { amount: '1' }],
    ] as const) {
      const created = await call('POST', '/v1/producer/executions', {
        ownerId: OWNER_A.ownerId,
        type,
        ...(params ? { params } : {}),
      });
      check.response('/v1/producer/executions', 'post', 201, created.body);
      const { operationId } = created.body;
      // Its own type: the first run, released below, is still claimable.
      const claim = await call('POST', '/v1/producer/claims', { types: [type], leaseMs: 30_000 });
      expect(claim.body.operationId).toBe(operationId);
      check.response('/v1/producer/claims', 'post', 200, claim.body);
      const token = claim.body.lease.token;
      const base = `/v1/producer/executions/${operationId}`;
      const head = await call('GET', base);
      check.response('/v1/producer/executions/{operationId}', 'get', 200, head.body);
      const renewed = await call('PUT', `${base}/lease`, { token, leaseMs: 30_000 });
      check.response('/v1/producer/executions/{operationId}/lease', 'put', 200, renewed.body);
      // The first start of the run, and the same key again: the first answer, marked as
      // replayed, as the document says.
      const start = () =>
        call(
          'POST',
          `${base}/events`,
          {
            events: [
              { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
            ],
            leaseToken: token,
          },
          { 'Idempotency-Key': `start-${operationId}` },
        );
      const appended = await start();
      check.response('/v1/producer/executions/{operationId}/events', 'post', 201, appended.body);
      const replayed = await start();
      expect(replayed.body).toEqual(appended.body);
      check.header(
        '/v1/producer/executions/{operationId}/events',
        'post',
        201,
        'Idempotent-Replayed',
        replayed.headers.get('idempotent-replayed'),
      );
      const conflict = await call('POST', `${base}/events`, {
        events: [{ kind: 'execution.progress', payload: { percent: 1 } }],
        expectedSequence: 1,
      });
      expect(conflict.status).toBe(409);
      check.response('/v1/producer/executions/{operationId}/events', 'post', 409, conflict.body);
      expect(conflict.body.error).toMatchObject({ code: 'SEQUENCE_CONFLICT' });
      // The document asks for the head with SEQUENCE_CONFLICT: an answer without it fails it.
      const { head: _head, ...headless } = conflict.body.error;
      expect(() =>
        check.response('/v1/producer/executions/{operationId}/events', 'post', 409, {
          ...conflict.body,
          error: headless,
        }),
      ).toThrow();
      expect((await call('DELETE', `${base}/lease`, { token })).status).toBe(204);
      const released = await call('GET', base);
      check.response('/v1/producer/executions/{operationId}', 'get', 200, released.body);
    }
  });
});
