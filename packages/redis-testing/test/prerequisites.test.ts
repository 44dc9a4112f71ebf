import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../../scripts/test-prerequisites.mjs', import.meta.url));

function check(path: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], { env: { PATH: path } }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

describe('pnpm test’s prerequisites check', () => {
  it('passes on this machine, and names what is missing in one line with the install command', async () => {
    expect(await check(process.env.PATH ?? '')).toEqual({ code: 0, stderr: '' });

    const empty = await mkdtemp(join(tmpdir(), 'execstream-path-'));
    try {
      const none = await check(empty);
      expect(none.code).toBe(1);
      expect(none.stderr).toBe(
        'pnpm test needs redis-server, redis-cli, tmux, chromium on PATH; install: sudo apt-get install -y redis-server tmux chromium\n',
      );
      // With redis and chromium there, only tmux is missing.
      const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
        execFile('sh', ['-c', 'command -v redis-server'], (error, out) =>
          error ? reject(error) : resolve({ stdout: out }),
        ),
      );
      await symlink(stdout.trim(), join(empty, 'redis-server'));
      await symlink(stdout.trim(), join(empty, 'redis-cli'));
      await symlink('/usr/bin/chromium', join(empty, 'chromium'));
      const onlyTmux = await check(empty);
      expect(onlyTmux.stderr).toBe(
        'pnpm test needs tmux on PATH; install: sudo apt-get install -y tmux\n',
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
