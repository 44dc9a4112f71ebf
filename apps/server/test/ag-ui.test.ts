import type { BaseEvent } from '@ag-ui/core';
import { SseDecoder } from '@execstream/event-schema';
import { startRedisServer } from '@execstream/redis-testing';
import { ExecutionProducer } from '@execstream/stream-service';
import jsonPatch from 'fast-json-patch';
import { describe, expect, it, vi } from 'vitest';
import { openRedisStores } from '../src/index.ts';
import {
  agUiUrl,
  httpAgent,
  openSteps,
  runAgent,
  runAgentOpened,
  wireEvents,
} from './support/ag-ui.ts';
import { rawRequest } from './support/http.ts';
import { metric as surfaceMetric } from './support/metrics.ts';
import { OWNER_A, OWNER_B, startServerOn, startTestServer } from './support/server.ts';
import { readSse } from './support/sse.ts';
import { trpcClient } from './support/trpc.ts';
import { newWallet, signIn } from './support/wallet.ts';
import { stalledReader } from './support/wire.ts';

const asA: Record<string, string> = { 'X-API-KEY': OWNER_A.key };
const asB: Record<string, string> = { 'X-API-KEY': OWNER_B.key };
const UNKNOWN = 'op_01JWZEE2MF30KVRMRX53N88VA4';

const types = (events: readonly { type: string }[]) => events.map((event) => event.type);

describe.each(['memory', 'redis'] as const)('the AG-UI stream with HttpAgent (%s)', (backend) => {
  it('follows a run to RUN_FINISHED: valid events, steps closed, final state as v2.executions.get', async () => {
    await using server = await startServerOn(backend);
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    await producer.timeline('Quote received', { step: 'quote', data: { price: '3200.5' } });

    const agent = httpAgent(server.url, operationId, OWNER_A.key);
    const { done: run } = await runAgentOpened(agent);
    await producer.progress(40, { step: 'swap', message: 'Submitting' });
    await producer.timeline('Swap submitted onchain', { step: 'swap', txHash: '0xabc' });
    await producer.retrying({ code: 'RPC_TIMEOUT', message: 'timed out' });
    await producer.start('Retrying');
    await producer.complete({ bought: '1.5 ETH' }, 'Swapped');
    const { events, result, state } = await run;

    expect(types(events)).toEqual([
      'RUN_STARTED',
      'STATE_SNAPSHOT',
      'MESSAGES_SNAPSHOT',
      'STEP_STARTED',
      // progress 40 on "swap"
      'STATE_DELTA',
      'STEP_FINISHED',
      'STEP_STARTED',
      'CUSTOM',
      // the timeline entry, as a text message
      'STATE_DELTA',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      // the retryable error, retrying, running
      'STATE_DELTA',
      'STATE_DELTA',
      'STATE_DELTA',
      // result, then completed
      'STATE_DELTA',
      'CUSTOM',
      'STATE_DELTA',
      'STEP_FINISHED',
      'RUN_FINISHED',
    ]);
    expect(openSteps(events)).toEqual([]);
    expect(result).toEqual({ bought: '1.5 ETH' });
    const snapshot = await trpcClient(server.url, OWNER_A.key).v2.executions.get.query({
      operationId,
    });
    expect(state).toEqual(snapshot);
    expect(agent.messages.map((message) => [message.role, message.content])).toEqual([
      ['assistant', 'Quote received'],
      ['assistant', 'Swap submitted onchain'],
    ]);
    const customs = events.filter((event) => event.type === 'CUSTOM');
    expect(customs.map(({ name, value }) => ({ name, value }))).toEqual([
      { name: 'generation:progress', value: { progress: 40, message: 'Submitting' } },
      { name: 'generation:result', value: { output: { bought: '1.5 ETH' }, summary: 'Swapped' } },
    ]);

    // On the wire: every frame valid, integer timestamps, no nulls, an id on every frame.
    const read = await readSse(agUiUrl(server.url, operationId), asA);
    expect(read.status).toBe(200);
    const wire = wireEvents(read);
    expect(wire.map(({ event }) => event.type)).toEqual([
      'RUN_STARTED',
      'STATE_SNAPSHOT',
      'MESSAGES_SNAPSHOT',
      'CUSTOM',
      'CUSTOM',
      'RUN_FINISHED',
    ]);
    expect(read.text.split('\n\n').filter((frame) => frame.startsWith('data:'))).toEqual([]);
    expect(new Set(wire.map(({ id }) => id)).size).toBe(wire.length);
  });

  it('ends a failed run with RUN_ERROR and its code, a cancelled one with CANCELLED', async () => {
    await using server = await startServerOn(backend);
    const client = trpcClient(server.url, OWNER_A.key);
    for (const outcome of ['failed', 'cancelled'] as const) {
      const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'bridge' });
      const { operationId } = record;
      const producer = await ExecutionProducer.attach(server.streams, operationId);
      await producer.start();
      await producer.progress(30, { step: 'deposit' });
      const agent = httpAgent(server.url, operationId, OWNER_A.key);
      const { done: run } = await runAgentOpened(agent);
      if (outcome === 'failed') {
        await producer.timeline('The relayer is down', { step: 'relay', level: 'error' });
        await producer.fail({ code: 'RELAY_DOWN', message: 'The relayer is down' });
      } else {
        await client.v2.executions.cancel.mutate({ operationId });
      }
      const { events, state } = await run;
      const last = events.at(-1) as BaseEvent & { code?: string; message?: string };
      expect(last.type).toBe('RUN_ERROR');
      expect(types(events).filter((type) => type.startsWith('RUN_'))).toEqual([
        'RUN_STARTED',
        'RUN_ERROR',
      ]);
      expect(openSteps(events)).toEqual([]);
      if (outcome === 'failed') {
        expect([last.code, last.message]).toEqual(['RELAY_DOWN', 'The relayer is down']);
      } else {
        expect([last.code, last.message]).toEqual(['CANCELLED', 'The execution was cancelled']);
      }
      expect(state).toEqual(await client.v2.executions.get.query({ operationId }));
      expect(state.status).toBe(outcome);
    }
  });
});

describe('a resumed AG-UI stream', () => {
  it('is a run of its own that brings HttpAgent to the same state and messages as a client that never dropped', async () => {
    // Streams end after 1 s, as at the lifetime of a real deployment, mid-run.
    await using server = await startTestServer({ EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000' });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    await producer.timeline('Quote received', { step: 'quote' });
    await producer.progress(10, { step: 'quote' });

    const agent = httpAgent(server.url, operationId, OWNER_A.key);
    // The first connection ends at its lifetime, without a terminal event.
    const first = await runAgent(agent);
    expect(types(first.events)).toEqual([
      'RUN_STARTED',
      'STATE_SNAPSHOT',
      'MESSAGES_SNAPSHOT',
      'STEP_STARTED',
      'CUSTOM',
    ]);
    // Missed while disconnected.
    await producer.timeline('Approval needed', { step: 'approval' });
    await producer.progress(35, { step: 'approval', message: 'Approved' });

    // The agent runs again; it sends its state, whose cursor says where it stands.
    const { done: second } = await runAgentOpened(agent);
    await producer.complete({ done: true });
    const resumed = await second;
    expect(types(resumed.events)).toEqual([
      'RUN_STARTED',
      'STATE_SNAPSHOT',
      // what it missed: the message and the progress, once
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'STEP_STARTED',
      'CUSTOM',
      'STATE_DELTA',
      'CUSTOM',
      'STATE_DELTA',
      'STEP_FINISHED',
      'RUN_FINISHED',
    ]);

    // A client that never dropped: one connection after the end, from nothing.
    const whole = httpAgent(server.url, operationId, OWNER_A.key);
    const fresh = await runAgent(whole);
    expect(types(fresh.events).at(-1)).toBe('RUN_FINISHED');
    const snapshot = await trpcClient(server.url, OWNER_A.key).v2.executions.get.query({
      operationId,
    });
    expect(resumed.state).toEqual(snapshot);
    expect(fresh.state).toEqual(snapshot);
    expect(agent.messages).toEqual(whole.messages);
    expect(agent.messages.map((message) => message.content)).toEqual([
      'Quote received',
      'Approval needed',
    ]);
  });

  it('resumes from any frame id, by header, query and forwardedProps, with an id on every frame', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    const url = agUiUrl(server.url, operationId);
    // Followed live from the start, so that each event comes as a group of frames of its own.
    let opened!: () => void;
    const isOpen = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const reading = readSse(url, asA, {
      onMessage: (message) => {
        if (message.data.includes('"MESSAGES_SNAPSHOT"')) opened();
      },
    });
    await isOpen;
    await producer.progress(20, { step: 'quote' });
    await producer.timeline('Quote received', { step: 'quote' });
    await producer.complete({ ok: true });
    const whole = wireEvents(await reading);
    const ids = whole.map(({ id }) => id);
    expect(ids.every((id) => /^\d+-\d+(\/(\d+|s\d+-[0-9a-f]{8}))?$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);

    // The timeline entry's group ends with its cursor; the frames before carry <cursor>/<n>.
    const start = whole.findIndex(({ event }) => event.type === 'TEXT_MESSAGE_START');
    const end = whole.findIndex(({ event }) => event.type === 'TEXT_MESSAGE_END');
    const cursor = whole[end]?.id as string;
    expect(cursor).toMatch(/^\d+-\d+$/);
    expect(whole[start]?.id).toBe(`${cursor}/1`);
    const rest = ['RUN_STARTED', 'STATE_SNAPSHOT', 'CUSTOM', 'RUN_FINISHED'];
    for (const id of [cursor, `${cursor}/1`]) {
      const byHeader = wireEvents(await readSse(url, { ...asA, 'Last-Event-ID': id }));
      const byQuery = wireEvents(
        await readSse(`${url}?lastEventId=${encodeURIComponent(id)}`, asA),
      );
      expect(byHeader.map(({ event }) => event.type)).toEqual(rest);
      expect(byQuery.map(({ event }) => event.type)).toEqual(rest);
    }
    // POST, as AG-UI clients send it: the cursor in forwardedProps.
    const viaPost = await fetch(url, {
      method: 'POST',
      headers: { ...asA, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        threadId: 't',
        runId: 'r',
        messages: [],
        forwardedProps: { lastEventId: cursor },
      }),
    });
    expect(viaPost.status).toBe(200);
    const posted = new SseDecoder().push(await viaPost.text());
    expect(posted.map((message) => JSON.parse(message.data).type)).toEqual(rest);

    // After the last frame: nothing to send, 204 (EventSource stops reconnecting).
    const done = await rawRequest(server.url, {
      path: `/v1/ai/executions/${operationId}/ag-ui-stream`,
      headers: { ...asA, 'Last-Event-ID': ids.at(-1) as string },
    });
    expect(done.status).toBe(204);
  });
});

describe('AG-UI readers at the live edge', () => {
  it('share one spool: the same frames for every reader, each brought to the exact state', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    await producer.timeline('Quote received', { step: 'quote' });
    // Two readers, both open before the live events.
    const agents = [
      httpAgent(server.url, operationId, OWNER_A.key),
      httpAgent(server.url, operationId, OWNER_A.key),
    ];
    const runs = await Promise.all(agents.map((agent) => runAgentOpened(agent)));
    const before = await surfaceMetric(server.url, 'execstream_stream_spool_joins_total', 'ag-ui');
    for (let index = 1; index <= 5; index++) {
      await producer.timeline(`Step ${index}`, { step: index % 2 === 0 ? 'swap' : 'approval' });
      await producer.progress(index * 15, { message: `${index} of 5` });
    }
    await producer.complete({ done: true });
    const [first, second] = await Promise.all(runs.map((run) => run.done));
    // Both joined the spool, once the first live event brought them to the live edge.
    expect(
      await surfaceMetric(server.url, 'execstream_stream_spool_joins_total', 'ag-ui'),
    ).toBeGreaterThanOrEqual(before + 2);
    const snapshot = await trpcClient(server.url, OWNER_A.key).v2.executions.get.query({
      operationId,
    });
    expect(first?.state).toEqual(snapshot);
    expect(second?.state).toEqual(snapshot);
    expect(openSteps(first?.events ?? [])).toEqual([]);
    // Past their openings, the two readers got the same events.
    const live = (run?: { events: BaseEvent[] }) => {
      const events = run?.events ?? [];
      return events.slice(events.findIndex((event) => event.type === 'STATE_DELTA'));
    };
    expect(live(second)).toEqual(live(first));
    expect(agents[0]?.messages).toEqual(agents[1]?.messages);
  });
});

describe('the AG-UI stream carries the raw route’s envelopes byte for byte', () => {
  it('in STATE_SNAPSHOT, every STATE_DELTA and RUN_FINISHED, fresh and resumed', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'withdraw' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();
    const [checked] = await producer.timeline('Balance checked', { step: 'check' });
    await producer.progress(50, { step: 'submit', message: 'Submitting' });
    await producer.complete({ amount: '10' }, 'Withdrew 10');

    const rawUrl = `${server.url}/v1/executions/${operationId}/stream`;
    for (const cursor of [null, checked?.cursor as string]) {
      const headers = cursor ? { ...asA, 'Last-Event-ID': cursor } : asA;
      const raw = await readSse(rawUrl, headers);
      const agUi = await readSse(agUiUrl(server.url, operationId), headers);
      wireEvents(agUi);
      const rawByCursor = new Map(raw.messages.map((m) => [m.lastEventId, m.data]));
      const rawSnapshot = cursor
        ? null
        : raw.messages.find((m) => m.event === 'execution.snapshot')?.data;
      const carried = agUi.messages.filter((m) => m.data.includes('"rawEvent":'));
      expect(carried.length).toBeGreaterThan(0);
      for (const message of carried) {
        const event = JSON.parse(message.data);
        const data = JSON.stringify(event.rawEvent);
        // The very bytes: the frame ends with the raw route's data for the same event.
        expect(message.data.endsWith(`"rawEvent":${data}}`)).toBe(true);
        if (event.type === 'STATE_SNAPSHOT') {
          expect(JSON.stringify(event.snapshot)).toBe(JSON.stringify(event.rawEvent.payload));
          if (rawSnapshot) expect(data).toBe(rawSnapshot);
        } else {
          expect(data).toBe(rawByCursor.get(event.rawEvent.cursor));
        }
      }
      const finished = carried
        .map((m) => JSON.parse(m.data))
        .find((e) => e.type === 'RUN_FINISHED');
      expect(JSON.stringify(finished.rawEvent)).toBe(raw.messages.at(-1)?.data);
    }
  });
});

describe('the AG-UI route refuses bad input as CONTRACT §5 and §7, never with a 5xx', () => {
  function errorOf(body: string): { code: string; message: string } {
    const parsed = JSON.parse(body);
    expect(Object.keys(parsed)).toEqual(['success', 'error']);
    expect(Object.keys(parsed.error)).toEqual(['code', 'message']);
    expect(body).not.toMatch(/\bat .*\.ts:\d+/);
    return parsed.error;
  }

  it('checks credentials, then the method, before reading any body', async () => {
    await using server = await startTestServer();
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const path = `/v1/ai/executions/${record.operationId}/ag-ui-stream`;
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'HEAD']) {
      const attempts: Record<string, string>[] = [{}, { 'X-API-KEY': 'not-a-key-of-anyone-000' }];
      for (const headers of attempts) {
        const anonymous = await rawRequest(server.url, {
          method,
          path,
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: method === 'POST' || method === 'PUT' ? '{not json' : undefined,
        });
        expect(anonymous.status, method).toBe(401);
        if (method !== 'HEAD') expect(errorOf(anonymous.body).code).toBe('UNAUTHORIZED');
      }
    }
    for (const method of ['PUT', 'DELETE', 'PATCH', 'HEAD']) {
      const known = await rawRequest(server.url, {
        method,
        path,
        headers: { ...asA, 'Content-Type': 'application/json' },
        body: method === 'PUT' || method === 'PATCH' ? '{not json' : undefined,
      });
      expect(known.status, method).toBe(405);
      expect(known.headers.allow).toBe('GET, POST');
      if (method !== 'HEAD') expect(errorOf(known.body).code).toBe('METHOD_NOT_ALLOWED');
    }
    // TRACE never reaches a route, and is refused the same way.
    const trace = await rawRequest(server.url, { method: 'TRACE', path, headers: asA });
    expect(trace.status).toBe(405);
    expect(trace.headers.allow).toBe('GET, POST');
  });

  it('answers malformed bodies, ids and cursors with 4xx, and another owner as an unknown execution', async () => {
    await using server = await startTestServer({ EXECSTREAM_MAX_BODY_BYTES: '2048' });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();
    const path = `/v1/ai/executions/${record.operationId}/ag-ui-stream`;
    const input = { threadId: 't', runId: 'r', messages: [] };
    const post = (body: string, contentType = 'application/json', headers = asA) =>
      rawRequest(server.url, {
        method: 'POST',
        path,
        headers: { ...headers, 'Content-Type': contentType },
        body,
      });

    const cases: [Promise<{ status: number; body: string }>, number, string][] = [
      [post('{not json'), 400, 'BAD_REQUEST'],
      [post(''), 400, 'BAD_REQUEST'],
      [post('[]'), 400, 'INVALID_INPUT'],
      [post(JSON.stringify({ ...input, messages: 'no' })), 400, 'INVALID_INPUT'],
      [post(JSON.stringify({ runId: 'r', messages: [] })), 400, 'INVALID_INPUT'],
      [post(JSON.stringify(input), 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [post(JSON.stringify({ ...input, pad: 'x'.repeat(4096) })), 413, 'PAYLOAD_TOO_LARGE'],
      [
        post(JSON.stringify({ ...input, forwardedProps: { lastEventId: 42 } })),
        400,
        'CURSOR_INVALID',
      ],
      [
        post(JSON.stringify({ ...input, forwardedProps: { lastEventId: 'abc' } })),
        400,
        'CURSOR_INVALID',
      ],
      [
        post(
          JSON.stringify({ ...input, state: { operationId: record.operationId, cursor: '1-2-3' } }),
        ),
        400,
        'CURSOR_INVALID',
      ],
    ];
    for (const cursor of ['abc', '1-', '1-2-3', '1-2/x', '99999999999999999999999-0']) {
      cases.push([
        rawRequest(server.url, { path, headers: { ...asA, 'Last-Event-ID': cursor } }),
        400,
        'CURSOR_INVALID',
      ]);
      cases.push([
        rawRequest(server.url, {
          path: `${path}?lastEventId=${encodeURIComponent(cursor)}`,
          headers: asA,
        }),
        400,
        'CURSOR_INVALID',
      ]);
    }
    for (const id of ['op_', 'nope', 'op_with%20space', `op_${'x'.repeat(65)}`, '%E0%A4%A']) {
      cases.push([
        rawRequest(server.url, { path: `/v1/ai/executions/${id}/ag-ui-stream`, headers: asA }),
        400,
        'OPERATION_ID_INVALID',
      ]);
    }
    for (const [pending, status, code] of cases) {
      const res = await pending;
      expect([res.status, errorOf(res.body).code]).toEqual([status, code]);
    }
    // A state of another execution is not a cursor: the stream starts from the head.
    const otherState = await post(
      JSON.stringify({ ...input, state: { operationId: UNKNOWN, cursor: 'garbage' } }),
    );
    expect(otherState.status).toBe(200);

    const foreign = await rawRequest(server.url, { path, headers: asB });
    const unknown = await rawRequest(server.url, {
      path: `/v1/ai/executions/${UNKNOWN}/ag-ui-stream`,
      headers: asB,
    });
    expect(foreign.status).toBe(404);
    expect(errorOf(foreign.body).code).toBe('EXECUTION_NOT_FOUND');
    expect(foreign.body.replace(record.operationId, UNKNOWN)).toBe(unknown.body);
    const foreignPost = await post(JSON.stringify(input), 'application/json', asB);
    expect(foreignPost.status).toBe(404);
  });

  it('counts its streams with the other surfaces’ (CONTRACT §8)', async () => {
    await using server = await startTestServer({ EXECSTREAM_MAX_STREAMS_PER_OWNER: '1' });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const abort = new AbortController();
    const held = await fetch(`${server.url}/v1/executions/${record.operationId}/stream`, {
      headers: asA,
      signal: abort.signal,
    });
    expect(held.status).toBe(200);
    const refused = await rawRequest(server.url, {
      path: `/v1/ai/executions/${record.operationId}/ag-ui-stream`,
      headers: asA,
    });
    abort.abort();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(errorOf(refused.body).code).toBe('TOO_MANY_STREAMS');
  });
});

describe('the AG-UI stream during a store outage (CONTRACT §5)', () => {
  it('answers 200 with retry: and ends, never a 5xx, on GET and POST', async () => {
    await using redis = await startRedisServer();
    const stores = await openRedisStores(redis.url, () => {});
    await using server = await startTestServer({ EXECSTREAM_SSE_RETRY_MS: '700' }, { stores });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const url = agUiUrl(server.url, record.operationId);
    redis.pause();
    try {
      const answers = await Promise.all([
        fetch(url, { headers: asA }),
        fetch(url, {
          method: 'POST',
          headers: { ...asA, 'Content-Type': 'application/json' },
          body: JSON.stringify({ threadId: 't', runId: 'r', messages: [] }),
        }),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
        expect(await answer.text()).toBe('retry: 700\n\n');
      }
    } finally {
      redis.resume();
    }
  });
});

describe('a reader of the AG-UI stream that stops reading', () => {
  const metric = (baseUrl: string, name: string) => surfaceMetric(baseUrl, name, 'ag-ui');

  it('is disconnected at the backlog bound, then resumes with every message once and the exact state', async () => {
    const bound = 64 * 1024;
    await using server = await startTestServer({ EXECSTREAM_MAX_BACKLOG_BYTES: String(bound) });
    const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
    const { operationId } = record;
    const producer = await ExecutionProducer.attach(server.streams, operationId);
    await producer.start();

    // HTTP/1.0, so the body arrives without chunked framing and is plain SSE.
    using reader = await stalledReader(
      server.url,
      `GET /v1/ai/executions/${operationId}/ag-ui-stream HTTP/1.0\r\nHost: localhost\r\nX-API-KEY: ${OWNER_A.key}\r\n\r\n`,
    );
    // 24 MB of events: more than the socket buffers and the bound together hold.
    const blob = 'x'.repeat(40_000);
    const count = 600;
    for (let index = 0; index < count; index++) {
      await producer.timeline(`chunk ${index}`, { data: { blob } });
    }
    await producer.complete({ chunks: count });
    // The delivery judges the reader once the transport had a turn to take the burst: wait.
    await vi.waitFor(
      async () => {
        expect(await metric(server.url, 'execstream_slow_consumer_disconnects_total')).toBe(1);
        expect(await metric(server.url, 'execstream_stream_backlog_bytes')).toBe(0);
        expect(await metric(server.url, 'execstream_streams_active')).toBe(0);
      },
      { timeout: 10_000, interval: 50 },
    );

    const text = (await reader.readRest()).bytes.toString('utf8');
    const before = new SseDecoder().push(text.slice(text.indexOf('\r\n\r\n') + 4));
    const last = before.at(-1);
    expect(last).toBeDefined();
    const resumed = await fetch(agUiUrl(server.url, operationId), {
      headers: { ...asA, 'Last-Event-ID': last?.lastEventId as string },
    });
    const after = new SseDecoder().push(await resumed.text());

    // Every timeline entry reaches the client as a message exactly once over both responses.
    const messages: string[] = [];
    let state: unknown = null;
    for (const message of [...before, ...after]) {
      const event = JSON.parse(message.data);
      if (event.type === 'MESSAGES_SNAPSHOT') {
        messages.push(...event.messages.map((m: { content: string }) => m.content));
      }
      if (event.type === 'TEXT_MESSAGE_CONTENT') messages.push(event.delta);
    }
    // A cut inside an event's frames (the network's, never the server's own end) resumes after
    // that event (docs/ag-ui.md): if its message had not got through, it is the one left out.
    const cutGroup = /^(\d+-\d+)\/\d+$/.exec(last?.lastEventId ?? '')?.[1];
    const cutEvent = before
      .map((message) => JSON.parse(message.data))
      .find((event) => event.type === 'STATE_DELTA' && event.rawEvent.cursor === cutGroup);
    const lost = before.some((message) => message.lastEventId === `${cutGroup}/2`)
      ? null
      : cutEvent?.rawEvent.payload.message;
    expect(messages).toEqual(
      Array.from({ length: count }, (_, index) => `chunk ${index}`).filter((m) => m !== lost),
    );
    // The resumed response alone brings the client to the exact state.
    for (const message of after) {
      const event = JSON.parse(message.data);
      if (event.type === 'STATE_SNAPSHOT') state = event.snapshot;
      if (event.type === 'STATE_DELTA')
        state = jsonPatch.applyPatch(state, event.delta).newDocument;
    }
    expect(state).toEqual(await server.streams.getSnapshot(operationId));
  });
});

describe('the AG-UI stream with a wallet session (CONTRACT §9)', () => {
  it('takes the session cookie on GET and POST, and refuses a cookie POST from another origin', async () => {
    await using server = await startTestServer({ EXECSTREAM_CORS_ORIGINS: 'http://app.example' });
    const { cookie, ownerId } = await signIn(server.url, newWallet());
    const { record } = await server.streams.create({ ownerId, type: 'swap' });
    const producer = await ExecutionProducer.attach(server.streams, record.operationId);
    await producer.start();
    await producer.complete({ ok: true });
    const url = agUiUrl(server.url, record.operationId);
    const read = await readSse(url, { Cookie: cookie, Origin: 'http://app.example' });
    expect(read.status).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBe('http://app.example');
    expect(wireEvents(read).at(-1)?.event.type).toBe('RUN_FINISHED');
    const input = JSON.stringify({ threadId: 't', runId: 'r', messages: [] });
    const allowed = await fetch(url, {
      method: 'POST',
      headers: { Cookie: cookie, Origin: 'http://app.example', 'Content-Type': 'application/json' },
      body: input,
    });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('"type":"RUN_FINISHED"');
    const foreign = await rawRequest(server.url, {
      method: 'POST',
      path: `/v1/ai/executions/${record.operationId}/ag-ui-stream`,
      headers: {
        Cookie: cookie,
        Origin: 'http://evil.example',
        'Content-Type': 'application/json',
      },
      body: input,
    });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body).error.code).toBe('ORIGIN_NOT_ALLOWED');
  });
});
