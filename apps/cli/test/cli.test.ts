import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OWNER_A, startTestServer } from '@execstream/server/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/exit-codes.ts';

/**
 * The CLI as a user gets it: packed (`pnpm pack`, which builds it), installed with `npm install
 * -g` into a scratch prefix, and run as `execstream` from the PATH with this node (20).
 */

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
let scratch: string;
let prefix: string;
/** PATH with the scratch prefix's bin first, so `execstream` is the installed one. */
let path: string;

beforeAll(async () => {
  const run = promisify(execFile);
  scratch = await mkdtemp(join(tmpdir(), 'execstream-cli-'));
  await run('pnpm', ['pack', '--pack-destination', scratch], { cwd: PACKAGE_DIR });
  const [tarball] = (await readdir(scratch)).filter((file) => file.endsWith('.tgz'));
  prefix = join(scratch, 'prefix');
  await run(
    'npm',
    ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline'].concat(
      join(scratch, tarball as string),
    ),
  );
  // The bin's `#!/usr/bin/env node` finds this node (20) first.
  path = [join(prefix, 'bin'), dirname(process.execPath), process.env.PATH].join(delimiter);
}, 120_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'execstream',
      args,
      { env: { ...process.env, ...env, PATH: path } },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: number }).code ?? -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the installed package', () => {
  it('is plain JavaScript with three dependencies: no tsx, no workspace package', async () => {
    const installed = join(prefix, 'lib/node_modules/@execstream/cli');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['cli-progress', 'commander', 'zod']);
    expect(manifest.devDependencies).toBeUndefined();
    expect(manifest.bin).toEqual({ execstream: './dist/bin.mjs' });
    // What the tarball held (a global install puts the dependencies beside it).
    const shipped = (await readdir(installed)).filter((name) => name !== 'node_modules');
    expect(shipped.sort()).toEqual(['README.md', 'dist', 'package.json']);
    for (const file of await readdir(join(installed, 'dist'))) {
      const text = await readFile(join(installed, 'dist', file), 'utf8');
      expect(text).not.toMatch(/from ["'](@execstream\/|tsx)/);
    }
    const help = await cli(['--help'], {});
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toContain('Usage: execstream');
  });

  it('prints every usage error on stderr and exits 2', async () => {
    const env = { EXECSTREAM_URL: 'http://127.0.0.1:9', EXECSTREAM_API_KEY: OWNER_A.key };
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['get', 'op_1'], { EXECSTREAM_API_KEY: '' }, /an API key is required/],
      [['teleport'], env, /unknown command 'teleport'/],
      [['submit', 'teleport'], env, /expected one of swap, bridge, rebalance, withdraw/],
      [['submit', 'swap', '--params', '{'], env, /not JSON/],
      [['submit', 'swap', '--params', '[1]'], env, /expected a JSON object/],
      [['watch', 'op_1', '--max-retries', 'many'], env, /expected a whole number/],
      [['get'], env, /missing required argument 'operationId'/],
      [['get', 'op_1', '--colour'], env, /unknown option '--colour'/],
    ];
    for (const [args, extra, message] of cases) {
      const run = await cli(args, { ...env, ...extra });
      expect({ args, code: run.code, stderr: run.stderr }).toMatchObject({
        code: EXIT.usage,
        stderr: expect.stringMatching(message),
      });
      expect(run.stdout).toBe('');
    }
  });
});

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

  it.each([120, 50])(
    'watch draws a progress bar, its percent and status and the outcome in a %i-column terminal (tmux), and exits 0 on completed',
    async (width) => {
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
        `PATH='${path}' execstream watch ${operationId}`,
        `; echo $? > '${exitFile}'; sleep 600`,
      ].join(' ');
      try {
        await tmux('new-session', '-d', '-x', String(width), '-y', '30', command);
        const code = await eventually(() =>
          readFile(exitFile, 'utf8').then(
            (text) => (text.endsWith('\n') ? Number(text) : undefined),
            () => undefined,
          ),
        );
        // -J: lines the narrow terminal wrapped, joined again.
        const screen = await tmux('capture-pane', '-p', '-J');
        expect(code).toBe(EXIT.ok);
        expect(screen).toContain(operationId);
        expect(screen).toMatch(/█{10,} 100% \| completed/);
        expect(screen).toContain('completed: Simulated 20 steps');
      } finally {
        await tmux('kill-server').catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

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

  it('submit --watch --json: stdout is envelopes only, the submit answer goes to stderr', async () => {
    const params = JSON.stringify({ simulate: { steps: 3, intervalMs: 10 } });
    const run = await cli(['--json', 'submit', 'swap', '--params', params, '--watch'], env);
    expect(run.code).toBe(EXIT.ok);
    const answer = JSON.parse(run.stderr.trim().split('\n')[0] as string);
    expect(answer.operationId).toMatch(/^op_/);
    const envelopes = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(envelopes.every((envelope) => envelope.operationId === answer.operationId)).toBe(true);
    expect(envelopes[0].kind).toBe('execution.snapshot');
    expect(envelopes.at(-1)).toMatchObject({ kind: 'execution.state_changed' });
  });

  it('exit codes: failed 1, cancelled 3, unreachable 4, refused 5, usage 2', async () => {
    const failed = await submit({ simulate: { steps: 3, intervalMs: 10, outcome: 'failed' } });
    const failedRun = await cli(['watch', failed], env);
    expect(failedRun.code).toBe(EXIT.failed);
    expect(failedRun.stdout).toContain('failed: ');

    const long = await submit({ simulate: { steps: 10_000, intervalMs: 50 } });
    const watching = spawn('execstream', ['watch', long], {
      env: { ...process.env, ...env, PATH: path },
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
});
