import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../../scripts/test-prerequisites.mjs', import.meta.url));

function check(path: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], { env: { PATH: path } }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

function which(program: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('sh', ['-c', `command -v ${program}`], (error, out) =>
      error ? reject(error) : resolve(out.trim()),
    ),
  );
}

/** A PATH directory holding links to the given programs only. */
async function pathWith(programs: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'execstream-path-'));
  dirs.push(dir);
  for (const program of programs) await symlink(await which(program), join(dir, program));
  return dir;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const ALL_BUT_TMUX = ['redis-server', 'redis-cli', 'chromium', 'curl', 'python3'];

describe('pnpm test’s prerequisites check', () => {
  it('passes on this machine', async () => {
    expect(await check(process.env.PATH ?? '')).toEqual({ code: 0, stderr: '' });
  });

  it('without apt-get, names what is missing in one line with the install command', async () => {
    const none = await check(await pathWith([]));
    expect(none.code).toBe(1);
    // nginx is also found in the system directories and the Nchan module by its file, so an
    // empty PATH misses the rest.
    expect(none.stderr).toBe(
      'pnpm test needs redis-server, redis-cli, tmux, chromium, curl, python3; install: sudo apt-get install -y redis-server tmux chromium curl python3\n',
    );
    const onlyTmux = await check(await pathWith(ALL_BUT_TMUX));
    expect(onlyTmux).toEqual({
      code: 1,
      stderr: 'pnpm test needs tmux; install: sudo apt-get install -y tmux\n',
    });
  });

  it('as root on Debian, installs what is missing with apt-get and says so first', async () => {
    const path = await pathWith([...ALL_BUT_TMUX, 'apt-get']);
    const result = await check(path);
    const rootOnDebian = process.getuid?.() === 0 && existsSync('/etc/debian_version');
    if (rootOnDebian) {
      // tmux is installed here already, so apt-get's install is a no-op that succeeds, and the
      // check finds tmux where apt puts it.
      expect(result.code).toBe(0);
      expect(result.stderr.split('\n')[0]).toBe(
        'pnpm test: installing tmux with apt-get (missing: tmux)',
      );
    } else {
      expect(result).toEqual({
        code: 1,
        stderr: 'pnpm test needs tmux; install: sudo apt-get install -y tmux\n',
      });
    }
  });
});
