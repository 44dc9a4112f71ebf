import { ExecutionProducer } from '@execstream/stream-service';
import { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { rawRequest } from './support/http.ts';
import { capturedLog } from './support/log.ts';
import { OWNER_A, OWNER_B, startTestServer } from './support/server.ts';
import { collectSubscription, trpcClient } from './support/trpc.ts';
import { exchange } from './support/wire.ts';

const asA = { 'X-API-KEY': OWNER_A.key };
const asB = { 'X-API-KEY': OWNER_B.key };
const UNKNOWN = 'op_01JWZEE2MF30KVRMRX53N88VA4';

function errorBody(body: string): { code: string; message: string } {
  const parsed = JSON.parse(body);
  expect(parsed.success).toBe(false);
  expect(Object.keys(parsed)).toEqual(['success', 'error']);
  expect(Object.keys(parsed.error)).toEqual(['code', 'message']);
  expect(body).not.toMatch(/\bat .*\.ts:\d+/);
  return parsed.error;
}

async function startWithExecution() {
  const server = await startTestServer();
  const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
  const producer = await ExecutionProducer.attach(server.streams, record.operationId);
  await producer.start();
  return { server, operationId: record.operationId, producer };
}

describe('the raw SSE route refuses bad input with CONTRACT §7 bodies', () => {
  it('answers 401 without a key or with a wrong one, before looking at anything else', async () => {
    const { server, operationId } = await startWithExecution();
    await using _ = server;
    const attempts: Record<string, string>[] = [
      {},
      { 'X-API-KEY': 'not-a-key-of-anyone-000' },
      { 'X-API-KEY': '' },
    ];
    for (const headers of attempts) {
      const res = await rawRequest(server.url, {
        path: `/v1/executions/${operationId}/stream`,
        headers,
      });
      expect(res.status).toBe(401);
      expect(errorBody(res.body).code).toBe('UNAUTHORIZED');
      expect(res.headers['x-request-id']).toMatch(/.+/);
    }
  });

  it('checks credentials before the method: 401 without a key, 405 with Allow: GET with one', async () => {
    const { server, operationId } = await startWithExecution();
    await using _ = server;
    const path = `/v1/executions/${operationId}/stream`;
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const anonymous = await rawRequest(server.url, { method, path });
      expect(anonymous.status, method).toBe(401);
      const wrong = await rawRequest(server.url, {
        method,
        path,
        headers: { 'X-API-KEY': 'not-a-key-of-anyone-000' },
      });
      expect(wrong.status, method).toBe(401);
      const known = await rawRequest(server.url, { method, path, headers: asA });
      expect(known.status, method).toBe(405);
      expect(known.headers.allow).toBe('GET');
      // HEAD answers carry no body; the others carry the CONTRACT §7 one.
      if (method !== 'HEAD') {
        expect(errorBody(anonymous.body).code).toBe('UNAUTHORIZED');
        expect(errorBody(known.body).code).toBe('METHOD_NOT_ALLOWED');
      }
    }
  });

  it('answers 400 for malformed operation ids and cursors', async () => {
    const { server, operationId } = await startWithExecution();
    await using _ = server;
    for (const id of ['op_', 'nope', 'op_with%20space', `op_${'x'.repeat(65)}`, '%E0%A4%A']) {
      const res = await rawRequest(server.url, {
        path: `/v1/executions/${id}/stream`,
        headers: asA,
      });
      expect(res.status).toBe(400);
      expect(errorBody(res.body).code).toBe('OPERATION_ID_INVALID');
    }
    const path = `/v1/executions/${operationId}/stream`;
    for (const cursor of ['abc', '1-', '-1', '1-2-3', '99999999999999999999999-0', '1.5-0']) {
      const byHeader = await rawRequest(server.url, {
        path,
        headers: { ...asA, 'Last-Event-ID': cursor },
      });
      expect(byHeader.status).toBe(400);
      expect(errorBody(byHeader.body).code).toBe('CURSOR_INVALID');
      const byQuery = await rawRequest(server.url, {
        path: `${path}?lastEventId=${encodeURIComponent(cursor)}`,
        headers: asA,
      });
      expect(byQuery.status).toBe(400);
      expect(errorBody(byQuery.body).code).toBe('CURSOR_INVALID');
    }
    // The header wins over the query.
    const both = await rawRequest(server.url, {
      path: `${path}?lastEventId=garbage`,
      headers: { ...asA, 'Last-Event-ID': '0' },
    });
    expect(both.status).toBe(200);
  });

  it("answers another owner's execution exactly as an unknown one", async () => {
    const { server, operationId } = await startWithExecution();
    await using _ = server;
    const foreign = await rawRequest(server.url, {
      path: `/v1/executions/${operationId}/stream`,
      headers: asB,
    });
    const unknown = await rawRequest(server.url, {
      path: `/v1/executions/${UNKNOWN}/stream`,
      headers: asB,
    });
    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    // Same body but for the id the caller sent, and the same headers but for the request id.
    expect(foreign.body.replace(operationId, UNKNOWN)).toBe(unknown.body);
    const comparable = (headers: Record<string, unknown>) => {
      const { 'x-request-id': _id, date: _date, ...rest } = headers;
      return rest;
    };
    expect(comparable(foreign.headers)).toEqual(comparable(unknown.headers));
  });
});

describe('the tRPC surface refuses bad input with TRPCError codes', () => {
  it('answers UNAUTHORIZED without a key, on calls and on the subscription', async () => {
    const { server, operationId } = await startWithExecution();
    await using _ = server;
    const anonymous = trpcClient(server.url, null);
    const call = await anonymous.v2.executions.get.query({ operationId }).catch((error) => error);
    expect(call).toBeInstanceOf(TRPCClientError);
    expect(call.data).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401 });
    const raw = await rawRequest(server.url, {
      path: `/v1/trpc/v2.executions.get?input=${encodeURIComponent(JSON.stringify({ operationId }))}`,
    });
    expect(raw.status).toBe(401);
    const stream = await collectSubscription(anonymous, { operationId });
    expect(stream.events).toEqual([]);
    expect((stream.error as TRPCClientError<never>).data).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('answers BAD_REQUEST for malformed ids and cursors, NOT_FOUND alike for foreign and unknown', async () => {
    const { server, operationId } = await startWithExecution();
    await using _ = server;
    const a = trpcClient(server.url, OWNER_A.key);
    const b = trpcClient(server.url, OWNER_B.key);
    const badId = await a.v2.executions.get.query({ operationId: 'nope' }).catch((error) => error);
    expect(badId.data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
    expect(badId.message).toMatch(/^operationId: /);
    const badCursor = await collectSubscription(a, { operationId, lastEventId: 'garbage' });
    expect((badCursor.error as TRPCClientError<never>).data).toMatchObject({ code: 'BAD_REQUEST' });
    const badAfter = await a.v2.executions.detail
      .query({ operationId, after: 'x-y' })
      .catch((e) => e);
    expect(badAfter.data).toMatchObject({ code: 'BAD_REQUEST' });

    const foreign = await b.v2.executions.get.query({ operationId }).catch((error) => error);
    const unknown = await b.v2.executions.get
      .query({ operationId: UNKNOWN })
      .catch((error) => error);
    expect(foreign.data).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    expect(foreign.message.replace(operationId, UNKNOWN)).toBe(unknown.message);
    expect(foreign.data).toEqual(unknown.data);
    for (const attempt of [
      b.v2.executions.detail.query({ operationId }),
      b.v2.executions.cancel.mutate({ operationId }),
    ]) {
      expect((await attempt.catch((error) => error)).data).toMatchObject({ code: 'NOT_FOUND' });
    }
    const foreignStream = await collectSubscription(b, { operationId });
    expect((foreignStream.error as TRPCClientError<never>).data).toMatchObject({
      code: 'NOT_FOUND',
    });
    // B's cancel changed nothing of A's execution.
    expect((await a.v2.executions.get.query({ operationId })).status).toBe('running');
  });

  it('rejects malformed submissions and creates nothing', async () => {
    await using server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    const a = trpcClient(server.url, OWNER_A.key);
    for (const input of [
      { type: 'teleport' },
      { type: 'swap', params: { simulate: { steps: 0 } } },
      { type: 'swap', params: { simulate: { outcome: 'maybe' } } },
      { type: 'swap', params: { simulate: { intervalMs: 60_001 } } },
      { type: 'swap', params: { simulate: { extra: true } } },
      { type: 'swap', idempotencyKey: '' },
    ]) {
      // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
      const error = await a.v2.executions.submit.mutate(input as any).catch((e) => e);
      expect(error.data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
    }
    expect((await a.v2.executions.list.query()).items).toEqual([]);
  });
});

describe('errors outside the routes keep the CONTRACT §7 shape', () => {
  it('answers requests the HTTP parser refuses with a JSON body and X-Request-Id', async () => {
    await using server = await startTestServer();
    const cases = [
      {
        bytes: `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`,
        status: 431,
        code: 'REQUEST_HEADER_FIELDS_TOO_LARGE',
      },
      { bytes: 'GARBAGE\r\n\r\n', status: 400, code: 'BAD_REQUEST' },
      { bytes: 'GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n', status: 400, code: 'BAD_REQUEST' },
    ];
    for (const { bytes, status, code } of cases) {
      const res = await exchange(server.url, [bytes], { halfClose: true });
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(errorBody(res.body).code).toBe(code);
    }
  });

  it("answers an operation id past the router's 256-character bound as any other bad id, with X-Request-Id, and logs it", async () => {
    const log = capturedLog('info');
    await using server = await startTestServer({}, { logger: log.logger });
    const id = `op_${'a'.repeat(300)}`;
    for (const path of [`/v1/executions/${id}/stream`, `/v1/ai/executions/${id}/ag-ui-stream`]) {
      // Fastify answered these with its own 414 body (FST_ERR_MAX_PARAM_LENGTH), no request id.
      const res = await rawRequest(server.url, {
        path,
        headers: { ...asA, 'X-Request-Id': 'long-1' },
      });
      expect(res.status, path).toBe(400);
      expect(res.headers['x-request-id']).toBe('long-1');
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(errorBody(res.body)).toEqual({
        code: 'OPERATION_ID_INVALID',
        message: expect.any(String),
      });
    }
    // A malformed percent-escape takes the same path through the router.
    const escaped = await rawRequest(server.url, { path: '/v1/executions/op_%E0%A4%A/stream' });
    expect(escaped.status).toBe(400);
    expect(escaped.headers['x-request-id']).toMatch(/.+/);
    expect(errorBody(escaped.body).code).toBe('OPERATION_ID_INVALID');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = log
      .text()
      .split('\n')
      .filter((line) => line.includes('"reqId":"long-1"'));
    expect(lines.map((line) => JSON.parse(line).status)).toEqual([400, 400]);
  });

  it('answers a missing, repeated or malformed Host with 400 on every route (RFC 9112 §3.2)', async () => {
    await using server = await startTestServer();
    const paths = ['/healthz', '/v1/trpc/v2.executions.list', `/v1/executions/${UNKNOWN}/stream`];
    const hosts = [[], [''], ['a b'], ['[::1'], ['h%zz'], ['localhost', 'evil.example']];
    for (const path of paths) {
      for (const host of hosts) {
        const lines = [`GET ${path} HTTP/1.1`, ...host.map((value) => `Host: ${value}`)];
        const res = await exchange(server.url, [
          `${lines.join('\r\n')}\r\nX-API-KEY: ${OWNER_A.key}\r\n\r\n`,
        ]);
        expect(res.status, `${path} ${JSON.stringify(host)}`).toBe(400);
        expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
        expect(errorBody(res.body)).toMatchObject({ code: 'BAD_REQUEST' });
      }
      // HTTP/1.0 needs no Host.
      const old = await exchange(server.url, [
        `GET ${path} HTTP/1.0\r\nX-API-KEY: ${OWNER_A.key}\r\n\r\n`,
      ]);
      expect(old.status).not.toBe(400);
      expect(old.status).toBeLessThan(500);
    }
  });

  it('answers an Expect other than 100-continue with 417 in the CONTRACT §7 shape', async () => {
    await using server = await startTestServer();
    const res = await exchange(server.url, [
      `POST /v1/trpc/v2.executions.submit HTTP/1.1\r\nHost: localhost\r\nX-API-KEY: ${OWNER_A.key}\r\nContent-Type: application/json\r\nExpect: 200-ok\r\nContent-Length: 15\r\n\r\n{"type":"swap"}`,
    ]);
    expect(res.status).toBe(417);
    expect(res.headers['x-request-id']).toMatch(/.+/);
    expect(errorBody(res.body).code).toBe('EXPECTATION_FAILED');
  });

  it("answers tRPC input that is not JSON without the JSON parser's words", async () => {
    await using server = await startTestServer();
    const attempts: RequestShape[] = [
      { path: `/v1/trpc/v2.executions.get?input=${encodeURIComponent('{')}` },
      { path: `/v1/trpc/v2.executions.get?input=${encodeURIComponent('{"operationId":')}` },
      ...['{"type":', '{x', 'nope'].map((body) => ({
        method: 'POST',
        path: '/v1/trpc/v2.executions.submit',
        headers: { 'Content-Type': 'application/json' },
        body,
      })),
    ];
    for (const attempt of attempts) {
      const res = await rawRequest(server.url, {
        ...attempt,
        headers: { ...asA, ...attempt.headers },
      });
      expect(res.status).toBe(400);
      const { error } = JSON.parse(res.body);
      expect(error.message).toBe('The input is not valid JSON');
      expect(error.data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
      expect(res.body).not.toMatch(/JSON input|position|Unexpected|Expected/);
    }
  });

  it('answers an unsupported content-type with a well-formed message', async () => {
    await using server = await startTestServer();
    // tRPC would read the last two itself (as FormData, as a byte stream), which no procedure takes.
    for (const type of [
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
    ]) {
      const res = await rawRequest(server.url, {
        method: 'POST',
        path: '/v1/trpc/v2.executions.submit',
        headers: { ...asA, 'Content-Type': type },
        body: '{"type":"swap"}',
      });
      expect(res.status, type).toBe(415);
      const { error } = JSON.parse(res.body);
      expect(error.message).toBe('Unsupported content-type: send application/json');
      expect(error.data).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', httpStatus: 415 });
      // A GET has no body: its Content-Type is ignored (tRPC answered these two with a 405 that
      // had no Allow).
      const get = await rawRequest(server.url, {
        path: '/v1/trpc/v2.executions.list',
        headers: { ...asA, 'Content-Type': type },
      });
      expect(get.status, type).toBe(200);
    }
  });
});

describe('submit bounds params', () => {
  /** `{"a":[[…[]…]]}`: `depth` levels with params itself, two bytes a level. */
  const nested = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
  const submitRaw = (baseUrl: string, params: string) =>
    rawRequest(baseUrl, {
      method: 'POST',
      path: '/v1/trpc/v2.executions.submit',
      headers: { ...asA, 'Content-Type': 'application/json' },
      body: `{"type":"swap","params":${params}}`,
    });

  it('refuses params nested deeper than 32 levels, or larger than 64 KiB, naming the field', async () => {
    await using server = await startTestServer();
    const a = trpcClient(server.url, OWNER_A.key);
    // 100,000 levels in a 200 KB body: within the body limit, refused by depth.
    const deepest = await submitRaw(server.url, nested(100_000));
    expect(deepest.status).toBe(400);
    expect(JSON.parse(deepest.body).error.message).toBe('params: must nest at most 32 levels deep');
    const justTooDeep = await submitRaw(server.url, nested(33));
    expect(justTooDeep.status).toBe(400);
    const tooLarge = await a.v2.executions.submit
      .mutate({ type: 'swap', params: { blob: 'x'.repeat(65_536) } })
      .catch((error) => error);
    expect(tooLarge.data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
    expect(tooLarge.message).toMatch(/^params: must be at most 65536 bytes as JSON, got 65547$/);
    expect((await a.v2.executions.list.query()).items).toEqual([]);

    // At the bounds, accepted.
    expect((await submitRaw(server.url, nested(32))).status).toBe(200);
    const largest = await a.v2.executions.submit.mutate({
      type: 'swap',
      params: { blob: 'x'.repeat(65_536 - '{"blob":""}'.length) },
    });
    expect(largest.operationId).toMatch(/^op_/);
    expect((await a.v2.executions.list.query()).items).toHaveLength(2);
  });
});

interface RequestShape {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A small deterministic generator, so a failing case can be replayed. */
function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe('randomised malformed requests', () => {
  it('never get a 5xx or a stack trace', async () => {
    const { server, operationId, producer } = await startWithExecution();
    await using _ = server;
    // Terminal, so that well-formed stream requests end by themselves.
    await producer.complete({ ok: true });
    const random = seeded(20_260_328);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const junk = () =>
      Array.from({ length: Math.floor(random() * 40) }, () =>
        pick([
          'a',
          'Z',
          '0',
          '-',
          '_',
          '%',
          '%00',
          '%FF',
          '/',
          '..',
          ' ',
          '"',
          '{',
          '}',
          'é',
          '\u0000',
          '9',
          ':',
        ]),
      ).join('');
    const ids = [operationId, UNKNOWN, 'op_', () => `op_${junk()}`, junk];
    const cursors = ['0', '0-0', '1-0', '', '-', '18446744073709551616-0', junk];
    const value = <T>(options: readonly (T | (() => string))[]) => {
      const chosen = pick(options);
      return typeof chosen === 'function' ? (chosen as () => string)() : chosen;
    };
    const statuses = new Map<number, number>();
    for (let index = 0; index < 300; index++) {
      const id = encodeURIComponent(String(value(ids))).replace(/%25/g, pick(['%25', '%']));
      const headers: Record<string, string> = {};
      if (random() < 0.85)
        headers['X-API-KEY'] = pick([
          OWNER_A.key,
          OWNER_B.key,
          'short',
          junk().replace(/[^\x21-\x7e]/g, '') || 'k',
        ]);
      if (random() < 0.5)
        headers['Last-Event-ID'] = String(value(cursors)).replace(/[^\x20-\x7e]/g, '');
      const inputs = [
        JSON.stringify({ operationId: value(ids) }),
        JSON.stringify({ operationId: value(ids), lastEventId: value(cursors) }),
        JSON.stringify({
          operationId: value(ids),
          after: value(cursors),
          limit: pick([0, 1, 1001, -5, 2.5, 'ten']),
        }),
        JSON.stringify(pick([null, 42, 'str', [], { type: pick(['swap', 'x', null]) }])),
        junk(),
      ];
      const request = pick<() => RequestShape>([
        () => ({
          path: `/v1/executions/${id}/stream${random() < 0.3 ? `?lastEventId=${encodeURIComponent(String(value(cursors)))}` : ''}`,
        }),
        () => ({
          method: pick(['POST', 'PUT', 'DELETE', 'PATCH']),
          path: `/v1/executions/${id}/stream`,
        }),
        () => ({
          path: `/v1/trpc/v2.executions.${pick(['get', 'detail', 'stream', 'list', 'nope', 'submit'])}?input=${encodeURIComponent(pick(inputs))}`,
        }),
        () => ({
          method: 'POST',
          path: `/v1/trpc/v2.executions.${pick(['submit', 'cancel', 'get'])}`,
          body: pick(inputs),
          headers: {
            'Content-Type': pick([
              'application/json',
              'text/plain',
              'application/x-www-form-urlencoded',
            ]),
          },
        }),
        () => ({ path: `/v1/${junk()}` }),
        () => ({ path: `/${junk()}` }),
      ])();
      const res = await rawRequest(server.url, {
        ...request,
        // Only what an HTTP client can put on the request line: the rest goes percent-encoded.
        path: request.path.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c)),
        headers: { ...headers, ...(request.headers ?? {}) },
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500 || /\bat .*\.(ts|js):\d+/.test(res.body)) {
        throw new Error(
          `request ${index} ${JSON.stringify(request)} got ${res.status}: ${res.body}`,
        );
      }
    }
    // The generator reached every kind of answer, so the loop exercised more than one path.
    for (const status of [200, 400, 401, 404]) expect(statuses.get(status)).toBeGreaterThan(0);
  });
});
