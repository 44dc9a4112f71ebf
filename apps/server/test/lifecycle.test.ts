import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { redisCommand } from '@execstream/redis-testing';
import { ExecutionProducer } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { collectGarbage } from './support/gc.ts';
import { rawRequest } from './support/http.ts';
import { OWNER_A, startServerOn, startTestServer } from './support/server.ts';
import { readSse } from './support/sse.ts';
import { collectSubscription, trpcClient, trpcStreamUrl } from './support/trpc.ts';

const auth = { 'X-API-KEY': OWNER_A.key };

async function runningExecution(server: Awaited<ReturnType<typeof startTestServer>>) {
  const { record } = await server.streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
  const producer = await ExecutionProducer.attach(server.streams, record.operationId);
  await producer.start();
  return { operationId: record.operationId, producer };
}

describe('streams on real networks', () => {
  it('sends retry: first, pings while idle, and ends at the maximum lifetime on both surfaces', async () => {
    await using server = await startTestServer({
      EXECSTREAM_PING_INTERVAL_MS: '100',
      EXECSTREAM_STREAM_MAX_LIFETIME_MS: '1000',
      EXECSTREAM_SSE_RETRY_MS: '1500',
    });
    const { operationId } = await runningExecution(server);
    const [sse, trpc] = await Promise.all([
      readSse(`${server.url}/v1/executions/${operationId}/stream`, auth),
      readSse(trpcStreamUrl(server.url, { operationId }), auth),
    ]);
    // Both responses really ended, with the execution still running: the client resumes.
    expect(sse.text.startsWith('retry: 1500\n\n')).toBe(true);
    expect(sse.text).toContain('\n: ping\n\n');
    expect(sse.messages.map((m) => m.event)).toEqual(['execution.snapshot']);
    expect(trpc.messages.some((m) => m.event === 'ping')).toBe(true);
    expect(trpc.messages.some((m) => m.event === 'return')).toBe(false);
    expect(sse.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(sse.headers['cache-control']).toBe('no-cache, no-transform');
    expect(sse.headers['x-accel-buffering']).toBe('no');
  });

  it('answers 204 for a terminal execution with nothing after the cursor; tRPC completes', async () => {
    await using server = await startTestServer();
    const { operationId, producer } = await runningExecution(server);
    const [, terminal] = await producer.complete({ ok: true });
    const res = await rawRequest(server.url, {
      path: `/v1/executions/${operationId}/stream`,
      headers: { ...auth, 'Last-Event-ID': terminal?.cursor as string },
    });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['x-request-id']).toMatch(/.+/);
    const client = trpcClient(server.url, OWNER_A.key);
    const done = await collectSubscription(client, { operationId, lastEventId: terminal?.cursor });
    expect(done).toEqual({ events: [], error: null });
  });

  it('honours Connection: close on every stream surface: the socket closes once the stream ends', async () => {
    await using server = await startTestServer();
    const { operationId, producer } = await runningExecution(server);
    await producer.complete({ ok: true });
    const { host } = new URL(server.url);
    const trpc = new URL(trpcStreamUrl(server.url, { operationId }));
    for (const path of [
      `/v1/executions/${operationId}/stream`,
      `/v1/ai/executions/${operationId}/ag-ui-stream`,
      `${trpc.pathname}${trpc.search}`,
    ]) {
      // A completed execution: the stream sends its snapshot and ends. The server then closes the
      // socket, as the request asked; a fixed "Connection: keep-alive" kept it open for the
      // keep-alive timeout.
      const answer = await untilServerCloses(
        server.url,
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nX-API-KEY: ${OWNER_A.key}\r\nConnection: close\r\n\r\n`,
      );
      const head = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
      expect(head, path).toMatch(/^http\/1\.1 200/);
      expect(head).toContain('\r\nconnection: close');
      expect(head).not.toContain('keep-alive');
    }
  });

  it('Last-Event-ID: 0 after a trim: the head snapshot stands for every retained event (docs/api.md §4)', async () => {
    await using server = await startServerOn('redis');
    const { operationId, producer } = await runningExecution(server);
    for (let index = 0; index < 6; index++) await producer.timeline(`step ${index}`);
    // The first events trimmed, as retention would: four remain.
    const trimmed = await redisCommand(Number(new URL(server.redisUrl as string).port), [
      'XTRIM',
      `es:{${operationId}}:events`,
      'MAXLEN',
      '4',
    ]);
    expect(trimmed).toBeGreaterThan(0);
    await producer.timeline('after the trim');
    await producer.complete({ ok: true });
    const head = await server.streams.getSnapshot(operationId);
    for (const path of [
      `/v1/executions/${operationId}/stream`,
      `/v1/ai/executions/${operationId}/ag-ui-stream`,
    ]) {
      const read = await readSse(`${server.url}${path}`, { ...auth, 'Last-Event-ID': '0' });
      expect(read.status, path).toBe(200);
      // Everything comes from the head's snapshot: every retained event is in it, none is sent
      // again (an AG-UI frame id is its canonical event's cursor, then `/` and a count).
      const cursors = read.messages.map((message) => message.lastEventId.split('/')[0]);
      expect(new Set(cursors), path).toEqual(new Set([head.cursor]));
    }
    const sse = await readSse(`${server.url}/v1/executions/${operationId}/stream`, {
      ...auth,
      'Last-Event-ID': '0',
    });
    expect(sse.messages.map((message) => message.event)).toEqual(['execution.snapshot']);
    expect(JSON.parse(sse.messages[0]?.data ?? '').payload).toEqual(head);
    // The decision and its reason are written where integrators read the resume rules.
    const api = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
    expect(api).toContain(
      'if the first has been trimmed, `execution.snapshot` at the head (which includes every retained event), then live',
    );
    expect(api).toContain("Why `0` after a trim sends the head's snapshot");
  });

  it('ends open streams on shutdown so clients resume elsewhere, and stops accepting', async () => {
    const server = await startTestServer();
    const { operationId } = await runningExecution(server);
    let sseOpen!: () => void;
    const opened = new Promise<void>((resolve) => {
      sseOpen = resolve;
    });
    const sse = readSse(`${server.url}/v1/executions/${operationId}/stream`, auth, {
      onMessage: () => sseOpen(),
    });
    const trpcRaw = readSse(trpcStreamUrl(server.url, { operationId }), auth);
    await opened;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close();
    const [sseRead, trpcRead] = await Promise.all([sse, trpcRaw]);
    expect(sseRead.status).toBe(200);
    expect(sseRead.messages.map((m) => m.event)).toEqual(['execution.snapshot']);
    // tRPC: a retryable error, never `return`, so the link's EventSource reconnects.
    const error = trpcRead.messages.find((m) => m.event === 'serialized-error');
    expect(JSON.parse(error?.data ?? '{}').data.code).toBe('SERVICE_UNAVAILABLE');
    expect(trpcRead.messages.some((m) => m.event === 'return')).toBe(false);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('lets go of all it held once closed: nothing global keeps a closed server', async () => {
    const streams = await (async () => {
      const server = await startTestServer();
      const { producer } = await runningExecution(server);
      await producer.complete({ ok: true });
      expect((await rawRequest(server.url, { path: '/metrics' })).status).toBe(200);
      await server.close();
      return new WeakRef(server.streams);
    })();
    // A boolean, not the object: the poll must not hold what it looks for.
    await expect
      .poll(
        () => {
          collectGarbage();
          return streams.deref() === undefined;
        },
        { timeout: 5_000 },
      )
      .toBe(true);
  });

  it('serves health, readiness and Prometheus metrics', async () => {
    await using server = await startTestServer();
    const { operationId, producer } = await runningExecution(server);
    let live!: () => void;
    const liveOpened = new Promise<void>((resolve) => {
      live = resolve;
    });
    const following = readSse(`${server.url}/v1/executions/${operationId}/stream`, auth, {
      onMessage: () => live(),
    });
    await liveOpened;
    await producer.complete({ ok: true });
    await following;
    await readSse(`${server.url}/v1/executions/${operationId}/stream?lastEventId=0`, auth);
    await readSse(`${server.url}/v1/executions/${operationId}/stream?lastEventId=1-0`, auth);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    // 3 live (snapshot, result, completed), 4 replayed, 1 resync snapshot.
    expect(metrics).toContain('execstream_events_delivered_total{surface="sse"} 8');
    expect(metrics).toContain('execstream_stream_replays_total{surface="sse"} 1');
    expect(metrics).toContain('execstream_stream_resyncs_total{surface="sse"} 1');
    expect(metrics).toContain('execstream_streams_active{surface="sse"} 0');
    // Lag is observed once per batch a reader takes: the two live events of the terminal batch
    // arrive together, in one or two takes.
    const lagCount = Number(
      /execstream_delivery_lag_seconds_count\{surface="sse"\} (\d+)/.exec(metrics)?.[1],
    );
    expect(lagCount).toBeGreaterThanOrEqual(1);
    expect(lagCount).toBeLessThanOrEqual(2);
    expect(metrics).toContain('process_cpu_seconds_total');
    const unknown = await rawRequest(server.url, { path: '/nope' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toEqual({
      success: false,
      error: { code: 'NOT_FOUND', message: 'No route for GET /nope' },
    });
  });
});

/** Writes one request on a connection of its own and reads until the server closes it. */
function untilServerCloses(baseUrl: string, request: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.write(request);
  });
}
