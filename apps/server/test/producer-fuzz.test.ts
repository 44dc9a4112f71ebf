import { EXECUTION_STATUSES, foldExecution, initialSnapshot } from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { producerCall } from './support/producer.ts';
import { seededRandom } from './support/random.ts';
import { OWNER_A, startServerOn } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';

/**
 * Malformed producer requests (CONTRACT §12): wrong types, unknown kinds, payloads out of range,
 * illegal transitions, oversized batches and strings, odd ids, tokens and idempotency keys, and
 * bodies that are not JSON. Every answer is a §7 refusal or a success, never a 5xx; the
 * execution they aim at stays a valid stream (its snapshot is the fold of its events).
 * `FUZZ_SEED` replays a run.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_203);
const REQUESTS = 5_000;
const IN_FLIGHT = 8;

const INTERNAL = [/\bat .*\.(ts|js):\d+/, /TypeError|RangeError|SyntaxError/, /node_modules/];

describe.each(['memory', 'redis'] as const)('producer fuzz on %s', (backend) => {
  it(`${REQUESTS} malformed producer requests: no 5xx, §7 bodies, the stream still valid`, async () => {
    await using server = await startServerOn(backend, {
      EXECSTREAM_PRODUCER_APPENDS_PER_SECOND: '1000000',
    });
    const { pick, int, chance, weighted } = seededRandom(SEED);
    const target = 'op_fuzzed';
    await producerCall(server.url, 'POST', '/v1/producer/executions', {
      operationId: target,
      ownerId: OWNER_A.ownerId,
      type: 'swap',
    });
    const claim = await producerCall(server.url, 'POST', '/v1/producer/claims', {
      leaseMs: 600_000,
    });
    const token = claim.body.lease.token as string;

    const junk = () =>
      weighted<() => unknown>([
        [3, () => null],
        [3, () => int(-1e9, 1e9)],
        [2, () => 1.5],
        [3, () => 'x'.repeat(int(0, 300))],
        [2, () => []],
        [2, () => ({})],
        [1, () => true],
        [1, () => '\u0000é😀'],
        [1, () => ({ __proto__: { polluted: 1 } })],
      ])();
    const status = () => pick([...EXECUTION_STATUSES, 'nope', null]);
    const event = (): unknown =>
      weighted<() => unknown>([
        [
          4,
          () => ({
            kind: 'execution.progress',
            payload: { percent: pick([-1, 0, 50, 100, 101, 1e308, '5', null]) },
          }),
        ],
        [
          3,
          () => ({
            kind: 'execution.state_changed',
            payload: { from: status(), to: status(), reason: junk() },
          }),
        ],
        [
          3,
          () => ({
            kind: 'execution.timeline_appended',
            payload: { message: junk(), level: pick(['info', 'loud', undefined]), chainId: junk() },
          }),
        ],
        [2, () => ({ kind: 'execution.result', payload: { output: junk() } })],
        [
          2,
          () => ({
            kind: 'execution.error',
            payload: { code: junk(), message: 'm', retryable: junk() },
          }),
        ],
        [2, () => ({ kind: 'execution.snapshot', payload: {} })],
        [
          2,
          () => ({ kind: pick(['execution.nope', '', 'constructor', '__proto__']), payload: {} }),
        ],
        [2, () => ({ kind: 'execution.progress' })],
        [2, junk],
      ])();
    const body = (): unknown =>
      weighted<() => unknown>([
        [
          6,
          () => ({
            events: Array.from({ length: int(0, 4) }, event),
            leaseToken: pick([token, 'lease_x', junk()]),
          }),
        ],
        [
          2,
          () => ({
            events: Array.from({ length: int(101, 150) }, () => ({
              kind: 'execution.progress',
              payload: { percent: 1 },
            })),
          }),
        ],
        [2, () => ({ events: [event()], expectedSequence: junk() })],
        [1, () => ({ events: [event()], extra: junk() })],
        [2, junk],
        [1, () => '{"events":[{'],
        [1, () => 'not json at all'],
      ])();
    const request = (): [string, string, unknown, Record<string, string>] =>
      weighted<() => [string, string, unknown, Record<string, string>]>([
        [
          10,
          () => [
            'POST',
            `/v1/producer/executions/${target}/events`,
            body(),
            chance(0.4)
              ? { 'Idempotency-Key': pick(['k', ' ', 'é', 'x'.repeat(300), `k${int(0, 50)}`]) }
              : {},
          ],
        ],
        [
          2,
          () => [
            'POST',
            `/v1/producer/executions/${pick([target, 'op_', 'op_a%2Fb', 'nope', 'op_unknown'])}/events`,
            body(),
            {},
          ],
        ],
        [
          2,
          () => [
            'POST',
            '/v1/producer/executions',
            {
              operationId: pick([target, 'op_new', junk()]),
              ownerId: junk(),
              type: pick(['swap', 'teleport', junk()]),
              params: junk(),
            },
            {},
          ],
        ],
        [
          2,
          () => [
            'POST',
            '/v1/producer/claims',
            {
              leaseMs: junk(),
              waitMs: pick([0, -1, 30_001, junk()]),
              types: pick([['swap'], ['nope'], junk()]),
            },
            {},
          ],
        ],
        [
          2,
          () => [
            pick(['PUT', 'DELETE']),
            `/v1/producer/executions/${target}/lease`,
            { token: pick([token, junk()]), leaseMs: junk() },
            {},
          ],
        ],
        [
          1,
          () => ['GET', `/v1/producer/executions/${pick([target, junk(), 'op_x'])}`, undefined, {}],
        ],
        [1, () => [pick(['PATCH', 'PUT', 'GET']), '/v1/producer/claims', body(), {}]],
      ])();

    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let sent = 0;
    const lane = async () => {
      while (sent < REQUESTS) {
        sent++;
        const [method, path, payload, headers] = request();
        let answer: Awaited<ReturnType<typeof producerCall>>;
        try {
          answer = await producerCall(
            server.url,
            method,
            path,
            method === 'GET' ? undefined : (payload ?? null),
            headers,
          );
        } catch (error) {
          failures.push(`${method} ${path}: ${String(error)}`);
          continue;
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const text = JSON.stringify(answer.body);
        if (answer.status >= 500 || INTERNAL.some((pattern) => pattern.test(text))) {
          failures.push(
            `${method} ${path} ${JSON.stringify(payload)?.slice(0, 200)} → ${answer.status} ${text}`,
          );
        }
        if (
          answer.status >= 400 &&
          !(answer.body?.success === false && typeof answer.body.error?.code === 'string')
        ) {
          failures.push(`${method} ${path} → ${answer.status} without a §7 body: ${text}`);
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    expect(failures).toEqual([]);
    expect([...statuses.keys()].every((code) => code < 500)).toBe(true);
    // Refusals of every kind were met, and some appends were valid.
    for (const code of [400, 404, 409, 422]) expect(statuses.get(code) ?? 0).toBeGreaterThan(0);

    const detail = await trpcClient(server.url, OWNER_A.key).v2.executions.detail.query({
      operationId: target,
      limit: 1000,
    });
    expect(detail.events.map((e) => e.sequence)).toEqual(detail.events.map((_, i) => i + 1));
    const folded = foldExecution(
      initialSnapshot({ operationId: target, type: 'swap', createdAt: detail.snapshot.createdAt }),
      detail.events,
    );
    expect(folded).toEqual(detail.snapshot);
  });
});
