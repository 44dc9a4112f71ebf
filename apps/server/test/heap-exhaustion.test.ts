import { describe, expect, it } from 'vitest';
import { rawRequest } from './support/http.ts';
import { spawnServer } from './support/process.ts';
import { OWNER_A, OWNER_B } from './support/server.ts';

/** One batched `submit` of `calls` idle demo runs of 10,000 steps each, as the hostile client sent. */
function submitBatch(baseUrl: string, calls: number) {
  const paths = Array.from({ length: calls }, () => 'v2.executions.submit').join(',');
  const input = Object.fromEntries(
    Array.from({ length: calls }, (_, index) => [
      index,
      { type: 'swap', params: { simulate: { steps: 10_000, intervalMs: 60_000 } } },
    ]),
  );
  return rawRequest(
    baseUrl,
    {
      method: 'POST',
      path: `/v1/trpc/${paths}?batch=1`,
      headers: { 'X-API-KEY': OWNER_A.key, 'Content-Type': 'application/json' },
      body: JSON.stringify(input),
    },
    4 * 1024 * 1024,
  );
}

function heapUsedBytes(metrics: string): number {
  const line = metrics.split('\n').find((entry) => entry.startsWith('nodejs_heap_size_used_bytes'));
  return Number(line?.split(' ')[1]);
}

describe('one principal against a 512 MB heap (CONTRACT §8)', () => {
  it('is refused with 429 long before the heap is in danger, and the server stays up for others', async () => {
    await using server = await spawnServer({
      PORT: '0',
      EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId},${OWNER_B.key}:${OWNER_B.ownerId}`,
      EXECSTREAM_DEMO: 'on',
      NODE_OPTIONS: '--max-old-space-size=512',
    });
    // The batches that took the heap down before: 300 calls each, refused whole now.
    for (let batch = 0; batch < 7; batch++) {
      const res = await submitBatch(server.url, 300);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.data).toMatchObject({ code: 'BAD_REQUEST' });
    }
    // The same 2,100 runs in batches of 50: the first 1,000 are taken, the rest refused.
    const outcomes = new Map<number, number>();
    for (let batch = 0; batch < 42; batch++) {
      const res = await submitBatch(server.url, 50);
      expect([200, 207, 429]).toContain(res.status);
      if (res.status !== 200) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      for (const item of JSON.parse(res.body) as { error?: { data: { httpStatus: number } } }[]) {
        const status = item.error?.data.httpStatus ?? 200;
        outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
      }
    }
    expect(Object.fromEntries(outcomes)).toEqual({ 200: 1000, 429: 1100 });

    const metrics = await rawRequest(server.url, { path: '/metrics' }, 4 * 1024 * 1024);
    const heap = heapUsedBytes(metrics.body);
    // 1,000 idle runs of 10,000 steps each: a few MB, where 2,100 of them once took 512 MB.
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThan(200 * 1024 * 1024);
    expect((await rawRequest(server.url, { path: '/healthz' })).status).toBe(200);
    const other = await rawRequest(server.url, {
      method: 'POST',
      path: '/v1/trpc/v2.executions.submit',
      headers: { 'X-API-KEY': OWNER_B.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'swap' }),
    });
    expect(other.status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  }, 120_000);
});
