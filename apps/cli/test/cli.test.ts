import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@execstream/redis-testing';
import { OWNER_A, startTestServer } from '@execstream/server/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/exit-codes.ts';

const BIN = fileURLToPath(new URL('../bin/execstream.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: number }).code ?? -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Polls until `read` yields a value (no timing assertion: the test timeout bounds it). */
async function eventually<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('execstream CLI against a real server', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    env = { EXECSTREAM_URL: server.url, EXECSTREAM_API_KEY: OWNER_A.key };
  });
  afterAll(async () => {
    await server?.close();
  });

  const submit = async (params: Record<string, unknown>): Promise<string> => {
    const run = await cli(['submit', 'swap', '--params', JSON.stringify(params)], env);
    expect(run.code).toBe(EXIT.ok);
    return run.stdout.trim();
  };

  it('watch draws a progress bar and the outcome in a real terminal (tmux), and exits 0 on completed', async () => {
    const operationId = await submit({
      simulate: { steps: 20, intervalMs: 100, outcome: 'completed' },
    });
    const dir = await mkdtemp(join(tmpdir(), 'execstream-cli-'));
    const socket = join(dir, 'tmux.sock');
    const exitFile = join(dir, 'exit');
    const tmux = (...args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile('tmux', ['-S', socket, ...args], (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        ),
      );
    const command = [
      `EXECSTREAM_URL='${server.url}'`,
      `EXECSTREAM_API_KEY='${OWNER_A.key}'`,
      `'${process.execPath}' '${BIN}' watch ${operationId}`,
      `; echo $? > '${exitFile}'; sleep 600`,
    ].join(' ');
    try {
      await tmux('new-session', '-d', '-x', '120', '-y', '30', command);
      const code = await eventually(() =>
        readFile(exitFile, 'utf8').then(
          (text) => (text.endsWith('\n') ? Number(text) : undefined),
          () => undefined,
        ),
      );
      const screen = await tmux('capture-pane', '-p');
      expect(code).toBe(EXIT.ok);
      expect(screen).toContain(operationId);
      expect(screen).toMatch(/█{10,} 100% \| completed/);
      expect(screen).toContain('completed: Simulated 20 steps');
    } finally {
      await tmux('kill-server').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('watch --json --cursor 0-0 prints every envelope from the first as NDJSON, as the stream sent it', async () => {
    const operationId = await submit({ simulate: { steps: 3, intervalMs: 10 } });
    const run = await cli(['--json', 'watch', operationId, '--cursor', '0-0'], env);
    expect(run.code).toBe(EXIT.ok);
    const envelopes = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(envelopes.every((envelope) => envelope.operationId === operationId)).toBe(true);
    expect(envelopes.map((envelope) => envelope.sequence)).toEqual(
      envelopes.map((_, index) => index + 1),
    );
    expect(Object.keys(envelopes[0])).toEqual([
      'streamId',
      'eventId',
      'sequence',
      'ts',
      'kind',
      'operationId',
      'cursor',
      'payload',
    ]);
    expect(envelopes.at(-1)).toMatchObject({
      kind: 'execution.state_changed',
      payload: { to: 'completed' },
    });
  });

  it('exit codes: failed 1, cancelled 3, unreachable 4, refused 5, usage 2', async () => {
    const failed = await submit({ simulate: { steps: 3, intervalMs: 10, outcome: 'failed' } });
    const failedRun = await cli(['watch', failed], env);
    expect(failedRun.code).toBe(EXIT.failed);
    expect(failedRun.stdout).toContain('failed: ');

    const long = await submit({ simulate: { steps: 10_000, intervalMs: 50 } });
    const watching = spawn(process.execPath, [BIN, 'watch', long], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    watching.stdout.on('data', (chunk) => {
      seen += chunk;
    });
    const exited = new Promise<number | null>((resolve) => watching.once('exit', resolve));
    await eventually(async () => (seen.includes('status: running') ? true : undefined));
    const cancel = await cli(['cancel', long], env);
    expect(cancel.code).toBe(EXIT.ok);
    expect(cancel.stdout.trim()).toBe('cancelled');
    expect(await exited).toBe(EXIT.cancelled);
    expect(seen).toContain('cancelled');

    const closed = await startTestServer();
    const closedUrl = closed.url;
    await closed.close();
    const unreachable = await cli(['watch', long, '--max-retries', '1'], {
      ...env,
      EXECSTREAM_URL: closedUrl,
    });
    expect(unreachable.code).toBe(EXIT.unreachable);
    expect(unreachable.stderr).toContain('UNREACHABLE');
    const unreachableGet = await cli(['get', long], { ...env, EXECSTREAM_URL: closedUrl });
    expect(unreachableGet.code).toBe(EXIT.unreachable);

    const missing = await cli(['watch', 'op_missing'], env);
    expect(missing.code).toBe(EXIT.refused);
    expect(missing.stderr).toContain('NOT_FOUND');
    const badKey = await cli(['get', long], {
      ...env,
      EXECSTREAM_API_KEY: 'esk_wrong-key-0000000000',
    });
    expect(badKey.code).toBe(EXIT.refused);

    expect((await cli(['submit', 'teleport'], env)).code).toBe(EXIT.usage);
    expect(
      (await cli(['get', long], { EXECSTREAM_URL: server.url, EXECSTREAM_API_KEY: '' })).code,
    ).toBe(EXIT.usage);
  });

  it('get, list and cancel print what the server answers', async () => {
    const operationId = await submit({ simulate: { steps: 2, intervalMs: 10 } });
    expect((await cli(['watch', operationId], env)).code).toBe(EXIT.ok);
    const got = await cli(['--json', 'get', operationId], env);
    expect(JSON.parse(got.stdout)).toMatchObject({ operationId, status: 'completed' });
    const listed = await cli(['list', '--limit', '50'], env);
    expect(listed.code).toBe(EXIT.ok);
    expect(listed.stdout).toContain(`${operationId}  swap  completed`);
  });

  it('keys runs the server keys command: a key created in Redis is listed', async () => {
    const redis = await startRedisServer();
    try {
      const created = await cli(['keys', 'create', '--owner', 'cli-owner'], {
        REDIS_URL: redis.url,
      });
      expect(created.code).toBe(EXIT.ok);
      const { key, id } = JSON.parse(created.stdout);
      expect(key).toMatch(/^esk_/);
      const listed = await cli(['keys', 'list'], { REDIS_URL: redis.url });
      expect(JSON.parse(listed.stdout)).toMatchObject({ id, ownerId: 'cli-owner' });
      const usage = await cli(['keys', 'rotate'], { REDIS_URL: redis.url });
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain('execstream keys create --owner');
    } finally {
      await redis.stop();
    }
  });
});
