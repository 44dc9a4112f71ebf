import { ExecutionProducer } from '@execstream/stream-service';
import type { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { rawRequest } from './support/http.ts';
import { capturedLog } from './support/log.ts';
import { OWNER_A, OWNER_B, startTestServer, twoInstances } from './support/server.ts';
import { collectSubscription, trpcClient } from './support/trpc.ts';
import { exchange } from './support/wire.ts';

const asA = { 'X-API-KEY': OWNER_A.key };
const asB = { 'X-API-KEY': OWNER_B.key };

function errorOf(body: string): { code: string; message: string } {
  const parsed = JSON.parse(body);
  expect(Object.keys(parsed)).toEqual(['success', 'error']);
  return parsed.error;
}

/** A raw SSE stream held open until `close()`; resolves once its headers arrived. */
async function openStream(baseUrl: string, operationId: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const response = await fetch(`${baseUrl}/v1/executions/${operationId}/stream`, {
    headers,
    signal: abort.signal,
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: response.status === 200 ? '' : await response.text(),
    close: () => abort.abort(),
  };
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('open streams per principal (CONTRACT §8), across instances on one Redis', () => {
  it('refuses the stream past the limit on every surface, leaves other owners alone, and frees slots as streams end', async () => {
    await using cluster = await twoInstances({ EXECSTREAM_MAX_STREAMS_PER_OWNER: '3' });
    const { one, two } = cluster;
    const { record } = await one.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const mine = await one.streams.create({ ownerId: OWNER_B.ownerId, type: 'swap' });
    const id = record.operationId;

    const held = [
      await openStream(one.url, id, asA),
      await openStream(one.url, id, asA),
      await openStream(two.url, id, asA),
    ];
    expect(held.map((stream) => stream.status)).toEqual([200, 200, 200]);

    // The fourth, on either instance and either surface, is refused.
    for (const server of [one, two]) {
      const refused = await openStream(server.url, id, asA);
      expect(refused.status).toBe(429);
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      expect(errorOf(refused.body).code).toBe('TOO_MANY_STREAMS');
    }
    const viaTrpc = await collectSubscription(trpcClient(two.url, OWNER_A.key), {
      operationId: id,
    });
    expect((viaTrpc.error as TRPCClientError<never>).data).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      httpStatus: 429,
      reason: 'TOO_MANY_STREAMS',
    });

    // Meanwhile the other owner streams and reads as usual, and A's calls still answer.
    const other = await openStream(two.url, mine.record.operationId, asB);
    expect(other.status).toBe(200);
    other.close();
    expect(
      (await trpcClient(one.url, OWNER_A.key).v2.executions.get.query({ operationId: id })).status,
    ).toBe('accepted');

    // One stream ends: its slot is free again, on the other instance too.
    held[2]?.close();
    const attempts: Awaited<ReturnType<typeof openStream>>[] = [];
    await until(async () => {
      const attempt = await openStream(one.url, id, asA);
      attempts.push(attempt);
      return attempt.status === 200;
    }, 'a slot freed by a closed stream');
    for (const attempt of attempts) attempt.close();
    for (const stream of held) stream.close();
  });
});

describe('open streams per principal: what needs no store read is checked before the slot', () => {
  it('answers a malformed cursor 400 CURSOR_INVALID on every surface to an owner at its limit', async () => {
    await using server = await startTestServer({ EXECSTREAM_MAX_STREAMS_PER_OWNER: '1' });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const id = record.operationId;
    const held = await openStream(server.url, id, asA);
    expect(held.status).toBe(200);
    for (const path of [`/v1/executions/${id}/stream`, `/v1/ai/executions/${id}/ag-ui-stream`]) {
      for (const cursor of ['garbage', '1-2-3']) {
        const res = await rawRequest(server.url, {
          path,
          headers: { ...asA, 'Last-Event-ID': cursor },
        });
        expect(res.status, `${path} ${cursor}`).toBe(400);
        expect(errorOf(res.body).code).toBe('CURSOR_INVALID');
      }
    }
    const viaTrpc = await collectSubscription(trpcClient(server.url, OWNER_A.key), {
      operationId: id,
      lastEventId: 'garbage',
    });
    expect((viaTrpc.error as TRPCClientError<never>).data).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
    });
    // A well-formed request is still the 429 of the limit.
    const refused = await openStream(server.url, id, asA);
    expect(refused.status).toBe(429);
    held.close();
  });
});

describe('executions not yet terminal per principal (CONTRACT §8), across instances', () => {
  it('refuses submit past the limit with 429 and Retry-After, leaves other owners alone, and counts a slot free once a run ends', async () => {
    await using cluster = await twoInstances({ EXECSTREAM_MAX_UNFINISHED_PER_OWNER: '3' });
    const { one, two } = cluster;
    const submit = (server: RunningServer, key: string, idempotencyKey?: string) =>
      rawRequest(server.url, {
        method: 'POST',
        path: '/v1/trpc/v2.executions.submit',
        headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'swap', ...(idempotencyKey ? { idempotencyKey } : {}) }),
      });
    const accepted = [
      await submit(one, OWNER_A.key, 'first'),
      await submit(two, OWNER_A.key),
      await submit(one, OWNER_A.key),
    ];
    expect(accepted.map((res) => res.status)).toEqual([200, 200, 200]);
    for (const server of [one, two]) {
      const refused = await submit(server, OWNER_A.key);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(JSON.parse(refused.body).error.data).toMatchObject({
        code: 'TOO_MANY_REQUESTS',
        httpStatus: 429,
        reason: 'TOO_MANY_EXECUTIONS',
      });
    }
    // An idempotent resubmit still answers with its execution, at the limit.
    const again = await submit(two, OWNER_A.key, 'first');
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body).result.data.operationId).toBe(
      JSON.parse(accepted[0]?.body ?? '').result.data.operationId,
    );
    expect((await trpcClient(one.url, OWNER_A.key).v2.executions.list.query()).items).toHaveLength(
      3,
    );
    // The other owner is not affected.
    expect((await submit(two, OWNER_B.key)).status).toBe(200);
    // A run that ends frees its slot, on every instance.
    const { operationId } = JSON.parse(accepted[1]?.body ?? '').result.data;
    const cancelled = await trpcClient(one.url, OWNER_A.key).v2.executions.cancel.mutate({
      operationId,
    });
    expect(cancelled.status).toBe('cancelled');
    expect((await submit(two, OWNER_A.key)).status).toBe(200);
    expect((await submit(one, OWNER_A.key)).status).toBe(429);
  });
});

describe('failed credential checks per client address (CONTRACT §8)', () => {
  it('answers 429 RATE_LIMITED with Retry-After past the limit, counted across instances, per address', async () => {
    await using cluster = await twoInstances({
      EXECSTREAM_MAX_FAILED_AUTH: '5',
      EXECSTREAM_TRUST_PROXY: '127.0.0.1',
    });
    const { one, two } = cluster;
    const from = (address: string, key: string) => ({
      'X-API-KEY': key,
      'X-Forwarded-For': address,
    });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const server = attempt % 2 === 0 ? one : two;
      const res = await rawRequest(server.url, {
        path: '/v1/trpc/v2.executions.list',
        headers: from('203.0.113.7', `wrong-key-number-${attempt}-000000`),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(JSON.parse(res.body).error.data).toMatchObject({
          code: 'TOO_MANY_REQUESTS',
          reason: 'RATE_LIMITED',
        });
      }
    }
    // Five failures answer 401, wherever they land; the sixth on is refused.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const stream = await rawRequest(one.url, {
      path: '/v1/executions/op_01JWZEE2MF30KVRMRX53N88VA4/stream',
      headers: from('203.0.113.7', 'wrong-key-again-0000000'),
    });
    expect(stream.status).toBe(429);
    expect(errorOf(stream.body).code).toBe('RATE_LIMITED');
    expect(Number(stream.headers['retry-after'])).toBeGreaterThan(0);

    // Another address is not affected, and a valid key is never refused for others' failures.
    const elsewhere = await rawRequest(two.url, {
      path: '/v1/trpc/v2.executions.list',
      headers: from('198.51.100.2', 'wrong-key-elsewhere-000'),
    });
    expect(elsewhere.status).toBe(401);
    const valid = await rawRequest(two.url, {
      path: '/v1/trpc/v2.executions.list',
      headers: from('203.0.113.7', OWNER_A.key),
    });
    expect(valid.status).toBe(200);
  });
});

describe('request bounds (CONTRACT §8)', () => {
  it('refuses batches of more than 50 calls with 400 before running any, and bodies over 256 KiB with 413', async () => {
    await using server = await startTestServer();
    const batch = (calls: number) => {
      const paths = Array.from({ length: calls }, () => 'v2.executions.list').join(',');
      const input = Object.fromEntries(Array.from({ length: calls }, (_, index) => [index, {}]));
      return rawRequest(server.url, {
        path: `/v1/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`,
        headers: asA,
      });
    };
    const fifty = await batch(50);
    expect(fifty.status).toBe(200);
    expect(JSON.parse(fifty.body)).toHaveLength(50);
    const fiftyOne = await batch(51);
    expect(fiftyOne.status).toBe(400);
    expect(JSON.parse(fiftyOne.body).error.data).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
    });

    const huge = await rawRequest(server.url, {
      method: 'POST',
      path: '/v1/trpc/v2.executions.submit',
      headers: { ...asA, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'swap', params: { blob: 'x'.repeat(300_000) } }),
    });
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.body).error.data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect((await trpcClient(server.url, OWNER_A.key).v2.executions.list.query()).items).toEqual(
      [],
    );
  });

  it('answers 405 with Allow for methods a route does not serve, TRACE included', async () => {
    await using server = await startTestServer();
    const cases = [
      { method: 'TRACE', path: '/v1/trpc/v2.executions.list', allow: 'GET, POST' },
      { method: 'PUT', path: '/v1/trpc/v2.executions.list', allow: 'GET, POST' },
      { method: 'DELETE', path: '/v1/trpc/v2.executions.submit', allow: 'GET, POST' },
      { method: 'TRACE', path: '/v1/executions/op_abc/stream', allow: 'GET' },
      { method: 'POST', path: '/healthz', allow: 'GET, HEAD' },
      { method: 'TRACE', path: '/metrics', allow: 'GET, HEAD' },
    ];
    for (const { method, path, allow } of cases) {
      for (const headers of [{}, asA]) {
        const res = await rawRequest(server.url, { method, path, headers });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.allow).toBe(allow);
        expect(errorOf(res.body).code).toBe('METHOD_NOT_ALLOWED');
        expect(res.headers['x-request-id']).toMatch(/.+/);
      }
    }
  });
  it('answers CONNECT like any other method: 405 with Allow on a route, 404 elsewhere, 400 for a tunnel, then closes', async () => {
    await using server = await startTestServer();
    const { host } = new URL(server.url);
    // Node hands CONNECT to a listener of its own; without one the socket closed unanswered.
    for (const { target, status, allow } of [
      { target: '/v1/openapi.json', status: 405, allow: 'GET, HEAD' },
      { target: '/v1/trpc/v2.executions.submit', status: 405, allow: 'GET, POST' },
      { target: '/v1/executions/op_abc/stream', status: 405, allow: 'GET' },
      { target: '/nowhere', status: 404, allow: undefined },
      // A tunnel's authority is not a path: this server is no proxy.
      { target: 'example.com:443', status: 400, allow: undefined },
    ]) {
      const res = await exchange(server.url, [
        `CONNECT ${target} HTTP/1.1\r\nHost: ${host}\r\nX-API-KEY: ${OWNER_A.key}\r\n\r\n`,
      ]);
      expect(res.status, target).toBe(status);
      expect(res.headers.allow, target).toBe(allow);
      expect(res.headers.connection).toBe('close');
      expect(res.headers['x-request-id']).toMatch(/.+/);
      expect(errorOf(res.body).code).toBe(
        { 405: 'METHOD_NOT_ALLOWED', 404: 'NOT_FOUND', 400: 'BAD_REQUEST' }[status],
      );
    }
    // The server goes on serving.
    expect((await rawRequest(server.url, { path: '/healthz' })).status).toBe(200);
  });
});

describe('metrics and logs', () => {
  it('puts /metrics behind a bearer token, or on a port of its own', async () => {
    const token = 'metrics-token-0123456789';
    await using guarded = await startTestServer({ EXECSTREAM_METRICS_TOKEN: token });
    const anonymous = await rawRequest(guarded.url, { path: '/metrics' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await rawRequest(guarded.url, {
      path: '/metrics',
      headers: { Authorization: `Bearer ${token.slice(0, -1)}x` },
    });
    expect(wrong.status).toBe(401);
    const right = await rawRequest(guarded.url, {
      path: '/metrics',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(right.status).toBe(200);
    expect(right.body).toContain('execstream_streams_active');

    await using apart = await startTestServer({ EXECSTREAM_METRICS_PORT: '0' });
    expect(apart.metricsUrl).not.toBeNull();
    expect((await rawRequest(apart.url, { path: '/metrics' })).status).toBe(404);
    const scraped = await rawRequest(apart.metricsUrl as string, { path: '/metrics' });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain('execstream_streams_active');
  });

  it('never logs a credential, whatever the URL or the request id carries', async () => {
    const log = capturedLog('trace');
    await using server = await startTestServer({}, { logger: log.logger });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();
    await producer.complete({ ok: true });
    const secret = OWNER_A.key;
    const params = (value: string) => `connectionParams=${encodeURIComponent(value)}`;
    const attempts = [
      `/v1/trpc/v2.executions.stream?${params(JSON.stringify({ apiKey: secret }))}&input=%7B`,
      `/v1/trpc/v2.executions.stream?${params(`{"apiKey":"${secret}"`)}`,
      `/v1/trpc/v2.executions.nope?${params(JSON.stringify({ apiKey: secret }))}`,
      `/v1/executions/${record.operationId}/stream?apiKey=${secret}&lastEventId=x`,
      `/v1/trpc/v2.executions.get?${params(JSON.stringify({ apiKey: secret }))}&input=${encodeURIComponent(JSON.stringify({ operationId: record.operationId }))}`,
    ];
    for (const path of attempts) await rawRequest(server.url, { path });
    // The key sent as the request id too, beside itself or in the query: the id is replaced.
    for (const request of [
      { path: '/v1/trpc/v2.executions.list', headers: { 'X-API-KEY': secret } },
      { path: `/v1/executions/${record.operationId}/stream?apiKey=${secret}` },
      { path: '/v1/auth/session', headers: { cookie: `execstream_session=${secret}` } },
    ] as { path: string; headers?: Record<string, string> }[]) {
      const res = await rawRequest(server.url, {
        ...request,
        headers: { ...request.headers, 'X-Request-Id': secret },
      });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    // A request id that is no credential is kept, so traces join up.
    const traced = await rawRequest(server.url, {
      path: '/v1/trpc/v2.executions.list',
      headers: { 'X-API-KEY': secret, 'X-Request-Id': 'trace-0001.abc' },
    });
    expect(traced.headers['x-request-id']).toBe('trace-0001.abc');
    await rawRequest(server.url, { path: `/%E0%A4%A?apiKey=${secret}` });
    expect(log.text()).toContain('"msg":"request"');
    expect(log.text()).not.toContain(secret);
  });
});
