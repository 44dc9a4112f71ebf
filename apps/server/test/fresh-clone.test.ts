import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from './support/process.ts';

/**
 * The README's production path as a newcomer takes it: a fresh clone of the committed tree,
 * `pnpm install` (offline here: from the store this workspace filled) and `pnpm build`, then
 * `node apps/server/dist/main.mjs`, which serves the web app at `/` to a real Chromium.
 */

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

/** Everything a command printed, stdout and stderr, without colours. */
async function output(command: string, args: string[], cwd: string): Promise<string> {
  const { stdout, stderr } = await run(command, args, {
    cwd,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', CI: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
  return `${stdout}${stderr}`.replace(/\u001b\[[0-9;]*m/g, '');
}

describe('a fresh clone', () => {
  let clone: string;
  let install: string;
  let build: string;

  beforeAll(async () => {
    clone = await mkdtemp(join(tmpdir(), 'execstream-clone-'));
    await run('git', ['clone', '--quiet', REPO, clone]);
    install = await output('pnpm', ['install', '--frozen-lockfile', '--offline'], clone);
    build = await output('pnpm', ['build'], clone);
  }, 240_000);

  afterAll(async () => {
    if (clone) await rm(clone, { recursive: true, force: true });
  });

  it('installs and builds without a warning', () => {
    // esbuild's install script is allowed (pnpm-workspace.yaml), so no "Ignored build scripts".
    expect(install).not.toMatch(/warn|ignored build scripts/i);
    expect(build).not.toMatch(/warn|UNRESOLVED_IMPORT/i);
    expect(build).toMatch(/Tasks:\s+\d+ successful/);
  });

  it('serves the web app with node apps/server/dist/main.mjs, rendered in Chromium', async () => {
    await using server = await spawnServer(
      { PORT: '0', EXECSTREAM_DEMO: 'on', EXECSTREAM_API_KEYS: '' },
      ['apps/server/dist/main.mjs'],
      clone,
    );
    const shell = await fetch(`${server.url}/`, { headers: { Accept: 'text/html' } });
    expect(shell.status).toBe(200);
    expect(await shell.text()).toContain('<meta name="execstream-demo" content="on">');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/`);
      await page.getByRole('button', { name: 'Sign in with a demo wallet' }).click();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      // A client route too, loaded directly: the same shell, routed by the page.
      await page.goto(`${server.url}/executions/op_unknown`);
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
    } finally {
      await browser.close();
    }
  });
});
