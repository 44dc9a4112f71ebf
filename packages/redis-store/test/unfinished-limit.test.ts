import { ExecutionProducer, TooManyExecutionsError } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { openRedisStreams, redisServerForFile, uniquePrefix } from './support.ts';

const server = redisServerForFile();

describe('the limit on unfinished executions, across instances', () => {
  it('holds for creates racing from two service instances on one Redis', async () => {
    const { url } = await server();
    const keyPrefix = uniquePrefix();
    // Two instances as two processes would have them: each its own backend and connections.
    await using first = await openRedisStreams({ url, keyPrefix, connectionName: 'first' });
    await using second = await openRedisStreams({ url, keyPrefix, connectionName: 'second' });
    const limit = 7;
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, index) =>
          (index % 2 === 0 ? first : second).create({
            ownerId: 'shared',
            type: 'swap',
            maxUnfinished: limit,
          }),
        ),
      );
      const made = results.flatMap((result) =>
        result.status === 'fulfilled' ? [result.value.record.operationId] : [],
      );
      for (const result of results) {
        if (result.status === 'rejected') {
          expect(result.reason).toBeInstanceOf(TooManyExecutionsError);
        }
      }
      expect(made).toHaveLength(limit);
      expect(await second.listUnfinished({ limit: 100 })).toHaveLength(limit);
      // Ended on either instance, a slot is free for both.
      await Promise.all(
        made.map(async (operationId, index) => {
          const producer = await ExecutionProducer.attach(index % 2 ? first : second, operationId);
          await producer.cancel();
        }),
      );
    }
    const { items } = await first.listExecutions('shared', { limit: 100 });
    expect(items).toHaveLength(5 * limit);
  });
});
