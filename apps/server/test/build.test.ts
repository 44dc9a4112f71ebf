import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRedisServer } from '@execstream/redis-testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { redisServerEnv, spawnServer } from './support/process.ts';
import { OWNER_A } from './support/server.ts';
import { readSse } from './support/sse.ts';

const run = promisify(execFile);
const APP = fileURLToPath(new URL('..', import.meta.url));
const headers = { 'X-API-KEY': OWNER_A.key };

async function submit(url: string, params: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${url}/v1/trpc/v2.executions.submit`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'swap', params }),
  });
  return ((await response.json()) as { result: { data: { operationId: string } } }).result.data
    .operationId;
}

describe('the production build', () => {
  beforeAll(async () => {
    await run('pnpm', ['build'], { cwd: APP });
  }, 120_000);

  it('runs with plain node on Redis (the Lua scripts travel with the bundle) and stops cleanly on SIGTERM', async () => {
    await using redis = await startRedisServer();
    await using server = await spawnServer(redisServerEnv(redis.url), ['dist/main.mjs']);
    expect(server.child.spawnargs.join(' ')).not.toContain('tsx');

    const done = await submit(server.url, { simulate: { steps: 5, intervalMs: 10 } });
    const read = await readSse(`${server.url}/v1/executions/${done}/stream`, {
      ...headers,
      'Last-Event-ID': '0-0',
    });
    expect(read.status).toBe(200);
    const last = JSON.parse(read.messages.at(-1)?.data ?? '{}');
    expect(last).toMatchObject({ kind: 'execution.state_changed', payload: { to: 'completed' } });

    // A stream open at SIGTERM is ended (its client resumes elsewhere), and the process exits 0.
    const long = await submit(server.url, { simulate: { steps: 10_000, intervalMs: 100 } });
    let opened: () => void = () => {};
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const stream = readSse(`${server.url}/v1/executions/${long}/stream`, headers, {
      onMessage: () => opened(),
    });
    await open;
    const exited = server.kill('SIGTERM');
    const ended = await stream;
    expect(ended.status).toBe(200);
    expect(ended.messages.at(-1)?.event).not.toBe('execution.state_changed');
    expect(await exited).toBe(0);

    const keys = await run(process.execPath, ['dist/main.mjs', 'keys', 'list'], {
      cwd: APP,
      env: { ...process.env, REDIS_URL: redis.url },
    });
    expect(keys.stderr).toBe('');
  });
});
