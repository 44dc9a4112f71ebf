import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.ts';
import { trpcClient } from './support/trpc.ts';

const APP = fileURLToPath(new URL('..', import.meta.url));

function keys(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'keys', ...args],
      { cwd: APP, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

describe('the keys command', () => {
  it('creates a key in Redis that every server accepts, lists it, and revokes it', async () => {
    await using redis = await startRedisServer();
    const env = { REDIS_URL: redis.url };
    const created = await keys(['create', '--owner', 'alice', '--label', 'ci'], env);
    expect(created.code).toBe(0);
    const { key, id, ownerId } = JSON.parse(created.stdout);
    expect(ownerId).toBe('alice');

    await using server = await startTestServer({ REDIS_URL: redis.url, EXECSTREAM_API_KEYS: '' });
    const client = trpcClient(server.url, key);
    expect(await client.v2.executions.list.query()).toEqual({ items: [], nextCursor: null });

    const listed = await keys(['list'], env);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).id),
    ).toEqual([id]);
    expect(listed.stdout).not.toContain(key);

    expect((await keys(['revoke', id], env)).code).toBe(0);
    const refused = await client.v2.executions.list.query().catch((error) => error);
    expect(refused.data).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await keys(['revoke', id], env)).code).toBe(1);
  });

  it('explains what it needs instead of failing obscurely', async () => {
    const withoutRedis = await keys(['list'], { REDIS_URL: '' });
    expect(withoutRedis.code).toBe(1);
    expect(withoutRedis.stderr).toContain('REDIS_URL is required');
    const noOwner = await keys(['create'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(noOwner.code).toBe(2);
    expect(noOwner.stderr).toContain('create takes one of --owner or --producer');
    const both = await keys(['create', '--owner', 'a', '--producer', 'b'], {
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(both.code).toBe(2);
  });

  it('creates a producer key that the producer routes accept and no other route does', async () => {
    await using redis = await startRedisServer();
    const created = await keys(['create', '--producer', 'fleet-1'], { REDIS_URL: redis.url });
    expect(created.code).toBe(0);
    const { key, ownerId, role } = JSON.parse(created.stdout);
    expect({ ownerId, role }).toEqual({ ownerId: 'fleet-1', role: 'producer' });
    expect(key).toMatch(/^esp_/);
    await using server = await startTestServer({ REDIS_URL: redis.url });
    const head = await fetch(`${server.url}/v1/producer/executions/op_none`, {
      headers: { 'X-API-KEY': key },
    });
    expect(head.status).toBe(404);
    const refused = await trpcClient(server.url, key)
      .v2.executions.list.query()
      .catch((error) => error);
    expect(refused.data).toMatchObject({ code: 'FORBIDDEN' });
  });
});
