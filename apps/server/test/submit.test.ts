import { describe, expect, it } from 'vitest';
import { OWNER_A, OWNER_B, startTestServer } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';

describe('submit with an idempotency key', () => {
  it('returns the first operation for the same key and owner, whatever the body says', async () => {
    await using server = await startTestServer();
    const a = trpcClient(server.url, OWNER_A.key);
    const b = trpcClient(server.url, OWNER_B.key);
    const first = await a.v2.executions.submit.mutate({
      type: 'swap',
      params: { amount: '1' },
      idempotencyKey: 'order-42',
    });
    // A retry with another body is still the same request: the first operation, unchanged.
    const again = await a.v2.executions.submit.mutate({
      type: 'bridge',
      params: { amount: '2' },
      idempotencyKey: 'order-42',
    });
    expect(again).toEqual(first);
    const snapshot = await a.v2.executions.get.query({ operationId: first.operationId });
    expect(snapshot.type).toBe('swap');
    expect((await server.streams.getRecord(first.operationId))?.params).toEqual({ amount: '1' });
    expect((await a.v2.executions.list.query()).items).toHaveLength(1);
    // Keys are the owner's own: another owner's same key is another operation.
    const other = await b.v2.executions.submit.mutate({ type: 'swap', idempotencyKey: 'order-42' });
    expect(other.operationId).not.toBe(first.operationId);
  });
});
