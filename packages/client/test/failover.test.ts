import { startRedisServer } from '@execstream/redis-testing';
import { OWNER_A } from '@execstream/server/test-support';
import { redisServerEnv, spawnServer } from '@execstream/server/test-support/process';
import { describe, expect, it } from 'vitest';
import { createExecstreamClient, type FollowUpdate, followExecution } from '../src/index.ts';

const credentials = { apiKey: OWNER_A.key };

describe('followExecution across a server that dies', () => {
  it('backs off while nothing answers, resumes with its cursor on the next instance, and misses nothing', async () => {
    await using redis = await startRedisServer();
    const env = redisServerEnv(redis.url, { EXECSTREAM_LEASE_TTL_MS: '1000' });
    const first = await spawnServer(env);
    const { port } = new URL(first.url);
    const client = createExecstreamClient({ baseUrl: first.url, credentials });
    const { operationId } = await client.submit({
      type: 'swap',
      params: { simulate: { steps: 40, intervalMs: 100 } },
    });

    const errors: string[] = [];
    const updates: FollowUpdate[] = [];
    // The next instance comes up on the same port once the follow has found nobody there.
    let second: ReturnType<typeof spawnServer> | null = null;
    try {
      for await (const update of followExecution({
        baseUrl: first.url,
        operationId,
        credentials,
        initialDelayMs: 100,
        onRetry: ({ error }) => {
          errors.push(error?.code ?? 'dropped');
          if (error?.code === 'UNREACHABLE')
            second ??= spawnServer({ ...env, PORT: port as string });
        },
      })) {
        updates.push(update);
        // Killed without a word: no shutdown, no lease released.
        if (updates.length === 10) await first.kill('SIGKILL');
      }
      expect(errors).toContain('UNREACHABLE');
      const sequences = updates.slice(1).map((update) => update.envelope.sequence);
      const first_ = updates[0]?.envelope.sequence ?? 0;
      expect(sequences).toEqual(sequences.map((_, index) => first_ + index + 1));
      expect(updates.at(-1)?.snapshot).toEqual(await client.get(operationId));
      expect(updates.at(-1)?.snapshot?.status).toBe('completed');
    } finally {
      await first.kill('SIGKILL');
      await (await (second as ReturnType<typeof spawnServer> | null))?.kill('SIGTERM');
    }
  });
});
