import { startRedisServer } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { spawnServer } from './support/process.ts';

/** The dev key a start printed in its banner (it comes right after the listening line). */
async function bannerKey(server: { stderr(): string }): Promise<string> {
  for (;;) {
    const match = /dev API key \(owner "dev", ([^)]*)\): (esk_[A-Za-z0-9_-]+)/.exec(
      server.stderr(),
    );
    if (match) {
      expect(match[1]).toBe('kept in Redis, the same after a restart');
      return match[2] as string;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function listStatus(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/v1/trpc/v2.executions.list`, {
    headers: { 'x-api-key': key },
  });
  await response.body?.cancel();
  return response.status;
}

describe('the dev key on Redis', () => {
  it('two starts on one Redis print the same dev key, and it authenticates after the restart', async () => {
    await using redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, PORT: '0', EXECSTREAM_DEMO: 'on' };

    const first = await spawnServer(env);
    const key = await bannerKey(first);
    expect(await listStatus(first.url, key)).toBe(200);
    expect(await first.kill('SIGTERM')).toBe(0);

    await using second = await spawnServer(env);
    expect(await bannerKey(second)).toBe(key);
    expect(await listStatus(second.url, key)).toBe(200);
    expect(await listStatus(second.url, `${key}x`)).toBe(401);
  });
});
