import type { Envelope } from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { producerCall } from './support/producer.ts';
import { OWNER_A, PRODUCER, startServerOn, startTestServer } from './support/server.ts';
import { eventData, readSse } from './support/sse.ts';
import { trpcClient } from './support/trpc.ts';

const start = { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } };
const progress = (percent: number) => ({ kind: 'execution.progress', payload: { percent } });

/** Everything a reader can see of an execution: what a refused request must leave as it was. */
async function history(baseUrl: string, operationId: string) {
  const detail = await trpcClient(baseUrl, OWNER_A.key).v2.executions.detail.query({
    operationId,
    limit: 1000,
  });
  return { snapshot: detail.snapshot, events: detail.events };
}

describe.each(['memory', 'redis'] as const)('the producer API on %s', (backend) => {
  it('runs an execution end to end: create, claim, fenced idempotent appends, readers follow', async () => {
    await using server = await startServerOn(backend);
    const created = await producerCall(server.url, 'POST', '/v1/producer/executions', {
      ownerId: OWNER_A.ownerId,
      type: 'swap',
      params: { amount: '1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      operationId: expect.stringMatching(/^op_/),
      status: 'accepted',
      sequence: 1,
      cursor: expect.stringMatching(/^\d+-\d+$/),
    });
    const { operationId } = created.body;
    const reader = readSse(`${server.url}/v1/executions/${operationId}/stream?lastEventId=0`, {
      'X-API-KEY': OWNER_A.key,
    });

    const claim = await producerCall(server.url, 'POST', '/v1/producer/claims', {
      leaseMs: 30_000,
    });
    expect(claim.status).toBe(200);
    expect(claim.body).toMatchObject({
      operationId,
      ownerId: OWNER_A.ownerId,
      type: 'swap',
      params: { amount: '1' },
      status: 'accepted',
      sequence: 1,
      cursor: created.body.cursor,
      lease: { token: expect.any(String), expiresAt: expect.any(String) },
    });
    const leaseToken = claim.body.lease.token;
    expect(
      (await producerCall(server.url, 'POST', '/v1/producer/claims', { leaseMs: 1000 })).status,
    ).toBe(204);

    const events = `/v1/producer/executions/${operationId}/events`;
    const first = await producerCall(
      server.url,
      'POST',
      events,
      { events: [start, progress(50)], expectedSequence: 1, leaseToken },
      { 'Idempotency-Key': 'step-1' },
    );
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ sequence: 3, cursor: expect.any(String), status: 'running' });
    // A blind retry: the same answer, nothing appended.
    const retry = await producerCall(
      server.url,
      'POST',
      events,
      { events: [start, progress(50)], expectedSequence: 1, leaseToken },
      { 'Idempotency-Key': 'step-1' },
    );
    expect(retry).toMatchObject({ status: 201, body: first.body });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');

    const renewed = await producerCall(
      server.url,
      'PUT',
      `/v1/producer/executions/${operationId}/lease`,
      {
        token: leaseToken,
        leaseMs: 60_000,
      },
    );
    expect(renewed).toMatchObject({ status: 200, body: { lease: { token: leaseToken } } });
    const head = await producerCall(server.url, 'GET', `/v1/producer/executions/${operationId}`);
    expect(head.body).toEqual({
      operationId,
      ownerId: OWNER_A.ownerId,
      type: 'swap',
      params: { amount: '1' },
      status: 'running',
      sequence: 3,
      cursor: first.body.cursor,
      lease: { expiresAt: expect.any(String) },
    });
    // Redis tells the lease's time left, so the end it reads may differ by the odd millisecond.
    const drift = Date.parse(head.body.lease.expiresAt) - Date.parse(renewed.body.lease.expiresAt);
    expect(Math.abs(drift)).toBeLessThan(1000);

    const done = await producerCall(server.url, 'POST', events, {
      events: [
        { kind: 'execution.result', payload: { output: { received: '2' } } },
        { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
      ],
      leaseToken,
    });
    expect(done).toMatchObject({ status: 201, body: { sequence: 5, status: 'completed' } });
    const seen = eventData(await reader).map((data) => JSON.parse(data) as Envelope);
    expect(seen.map((event) => [event.sequence, event.kind])).toEqual([
      [1, 'execution.state_changed'],
      [2, 'execution.state_changed'],
      [3, 'execution.progress'],
      [4, 'execution.result'],
      [5, 'execution.state_changed'],
    ]);
    const snapshot = await trpcClient(server.url, OWNER_A.key).v2.executions.get.query({
      operationId,
    });
    expect(snapshot).toMatchObject({ status: 'completed', result: { output: { received: '2' } } });
    // The end frees the lease; releasing it now is a lost lease.
    const released = await producerCall(
      server.url,
      'DELETE',
      `/v1/producer/executions/${operationId}/lease`,
      {
        token: leaseToken,
      },
    );
    expect(released.status).toBe(409);
    expect(released.body.error.code).toBe('LEASE_LOST');
  });

  it('refuses every bad request of CONTRACT §12 with its code, appending nothing', async () => {
    await using server = await startServerOn(backend, {
      EXECSTREAM_PRODUCER_MAX_BATCH_EVENTS: '3',
    });
    const create = { operationId: 'op_refusals', ownerId: OWNER_A.ownerId, type: 'bridge' };
    expect((await producerCall(server.url, 'POST', '/v1/producer/executions', create)).status).toBe(
      201,
    );
    const again = await producerCall(server.url, 'POST', '/v1/producer/executions', create);
    expect(again).toMatchObject({ status: 200, body: { operationId: 'op_refusals', sequence: 1 } });
    const otherBody = await producerCall(server.url, 'POST', '/v1/producer/executions', {
      ...create,
      type: 'swap',
    });
    expect(otherBody.status).toBe(409);
    expect(otherBody.body.error.code).toBe('CONFLICT');
    const claim = await producerCall(server.url, 'POST', '/v1/producer/claims', {
      leaseMs: 60_000,
    });
    const leaseToken = claim.body.lease.token as string;
    const path = '/v1/producer/executions/op_refusals/events';
    expect(
      (await producerCall(server.url, 'POST', path, { events: [start], leaseToken })).status,
    ).toBe(201);
    const before = await history(server.url, 'op_refusals');

    const refusals: [string, string, unknown, number, string, string?][] = [
      [
        'POST',
        path,
        { events: [{ kind: 'execution.snapshot', payload: {} }] },
        422,
        'INVALID_EVENT',
        'events.0',
      ],
      ['POST', path, { events: [progress(150)] }, 422, 'INVALID_EVENT', 'events.0.payload.percent'],
      ['POST', path, { events: [{ kind: 'execution.nope', payload: {} }] }, 422, 'INVALID_EVENT'],
      ['POST', path, { events: [start] }, 422, 'INVALID_EVENT', 'accepted -> running'],
      [
        'POST',
        path,
        { events: [{ kind: 'execution.result', payload: { output: {} } }] },
        422,
        'INVALID_EVENT',
      ],
      ['POST', path, { events: [] }, 422, 'INVALID_EVENT'],
      [
        'POST',
        path,
        { events: [progress(1), progress(2), progress(3), progress(4)] },
        422,
        'INVALID_EVENT',
        'at most 3',
      ],
      ['POST', path, { events: [progress(1)], expectedSequence: 1 }, 409, 'SEQUENCE_CONFLICT'],
      ['POST', path, { events: [progress(1)], leaseToken: 'lease_not_it' }, 409, 'LEASE_LOST'],
      ['POST', path, { events: [progress(1)], lease: 'typo' }, 400, 'INVALID_INPUT'],
      ['POST', path, { events: 'nope' }, 400, 'INVALID_INPUT'],
      ['POST', path, '{"events":', 400, 'BAD_REQUEST'],
      [
        'POST',
        '/v1/producer/executions/op_missing/events',
        { events: [progress(1)] },
        404,
        'EXECUTION_NOT_FOUND',
      ],
      [
        'POST',
        '/v1/producer/executions/not-an-op/events',
        { events: [progress(1)] },
        400,
        'OPERATION_ID_INVALID',
      ],
      [
        'PUT',
        '/v1/producer/executions/op_refusals/lease',
        { token: 'lease_not_it', leaseMs: 1000 },
        409,
        'LEASE_LOST',
      ],
      [
        'PUT',
        '/v1/producer/executions/op_refusals/lease',
        { token: leaseToken, leaseMs: 0 },
        400,
        'INVALID_INPUT',
      ],
      [
        'DELETE',
        '/v1/producer/executions/op_refusals/lease',
        { token: 'lease_not_it' },
        409,
        'LEASE_LOST',
      ],
      ['POST', '/v1/producer/claims', { leaseMs: 1000, waitMs: 30_001 }, 400, 'INVALID_INPUT'],
      ['POST', '/v1/producer/claims', { leaseMs: 1000, types: ['teleport'] }, 400, 'INVALID_INPUT'],
      ['POST', '/v1/producer/executions', { ownerId: '', type: 'swap' }, 400, 'INVALID_INPUT'],
      ['PATCH', path, { events: [] }, 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [method, target, body, status, code, mention] of refusals) {
      const answer = await producerCall(server.url, method, target, body);
      expect({
        method,
        target,
        body,
        status: answer.status,
        code: answer.body?.error?.code,
      }).toEqual({
        method,
        target,
        body,
        status,
        code,
      });
      if (mention) expect(answer.body.error.message).toContain(mention);
    }
    const conflict = await producerCall(server.url, 'POST', path, {
      events: [progress(1)],
      expectedSequence: 1,
    });
    expect(conflict.body.error.head).toEqual({ sequence: 2, cursor: before.snapshot.cursor });
    expect(await history(server.url, 'op_refusals')).toEqual(before);

    // A user's cancel lands: the worker is told the run ended.
    await trpcClient(server.url, OWNER_A.key).v2.executions.cancel.mutate({
      operationId: 'op_refusals',
    });
    const cancelled = await history(server.url, 'op_refusals');
    const late = await producerCall(server.url, 'POST', path, {
      events: [progress(9)],
      leaseToken,
    });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('EXECUTION_TERMINAL');
    expect(await history(server.url, 'op_refusals')).toEqual(cancelled);
    expect(cancelled.snapshot.status).toBe('cancelled');
  });
});

describe('producer keys', () => {
  it('are accepted on /v1/producer/* only, and nothing else is accepted there', async () => {
    await using server = await startTestServer();
    const onProducer = (key: string | null) =>
      producerCall(server.url, 'GET', '/v1/producer/executions/op_nothing', undefined, {}, key);
    expect((await onProducer(PRODUCER.key)).status).toBe(404);
    const userKey = await onProducer(OWNER_A.key);
    expect(userKey.status).toBe(403);
    expect(userKey.body.error.code).toBe('FORBIDDEN');
    expect((await onProducer(null)).status).toBe(401);
    expect((await onProducer('test-not-a-key-at-all-00')).status).toBe(401);

    const list = await trpcClient(server.url, PRODUCER.key)
      .v2.executions.list.query()
      .catch((error) => error);
    expect(list.data).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403 });
    const stream = await fetch(`${server.url}/v1/executions/op_nothing/stream`, {
      headers: { 'X-API-KEY': PRODUCER.key },
    });
    expect(stream.status).toBe(403);
    const session = await fetch(`${server.url}/v1/auth/session`, {
      headers: { 'X-API-KEY': PRODUCER.key },
    });
    expect(session.status).toBe(403);
  });

  it('are limited in appends per second, answered 429 with Retry-After', async () => {
    await using server = await startTestServer({ EXECSTREAM_PRODUCER_APPENDS_PER_SECOND: '3' });
    const { body } = await producerCall(server.url, 'POST', '/v1/producer/executions', {
      ownerId: OWNER_A.ownerId,
      type: 'swap',
    });
    const path = `/v1/producer/executions/${body.operationId}/events`;
    // At once, so that however slow the machine, they fall in one window of a second.
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        producerCall(server.url, 'POST', path, {
          events: [{ kind: 'execution.timeline_appended', payload: { message: `m${index}` } }],
        }),
      ),
    );
    const limited = answers.filter((answer) => answer.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const appended = answers.filter((answer) => answer.status === 201).length;
    const snapshot = await trpcClient(server.url, OWNER_A.key).v2.executions.get.query({
      operationId: body.operationId,
    });
    expect(snapshot.timeline).toHaveLength(appended);
  });
});
