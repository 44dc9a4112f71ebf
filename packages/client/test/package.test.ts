import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OWNER_A, startTestServer } from '@execstream/server/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixture', import.meta.url));
// What the scratch project installs besides the tarball, at the versions the workspace pins.
const PEERS = [
  'typescript@5.9.3',
  '@types/node@20.19.43',
  '@trpc/client@11.25.2',
  '@trpc/server@11.25.2',
];

describe('the packed @execstream/client, installed outside the workspace', () => {
  let scratch: string;
  let tarball: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'execstream-client-'));
    // `pnpm pack` runs the package's prepack (the tsdown build) and applies publishConfig.
    await run('pnpm', ['pack', '--pack-destination', scratch], { cwd: PACKAGE_DIR });
    const [name] = (await readdir(scratch)).filter((file) => file.endsWith('.tgz'));
    tarball = join(scratch, name as string);
    const project = join(scratch, 'project');
    await cp(FIXTURE, project, { recursive: true });
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'scratch', private: true, type: 'module' }),
    );
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...PEERS],
      { cwd: project },
    );
  });

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('ships built ESM and declarations with no workspace dependency and no .ts import', async () => {
    const installed = join(scratch, 'project/node_modules/@execstream/client');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies)).toEqual(['zod']);
    expect(manifest.exports['.']).toEqual({
      types: './dist/index.d.ts',
      import: './dist/index.js',
    });
    expect((await readdir(installed)).sort()).toEqual(['README.md', 'dist', 'package.json']);
    for (const file of await readdir(join(installed, 'dist'))) {
      const text = await readFile(join(installed, 'dist', file), 'utf8');
      const specifiers = [...text.matchAll(/from\s+["']([^"']+)["']/g)].map((match) => match[1]);
      expect(specifiers.filter((specifier) => specifier?.endsWith('.ts'))).toEqual([]);
      expect(specifiers.filter((specifier) => specifier?.startsWith('@execstream/'))).toEqual([]);
    }
  });

  it('typechecks a script with tsc and runs it with node against a real server', async () => {
    await using server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    const project = join(scratch, 'project');
    await run(join(project, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: project });
    const { stdout } = await run(process.execPath, ['out/script.js', server.url, OWNER_A.key], {
      cwd: project,
    });
    const report = JSON.parse(stdout);
    expect(report.status).toBe('completed');
    expect(report.same).toBe(true);
    expect(report.kinds[0]).toBe('execution.snapshot');
    expect(report.kinds.at(-1)).toBe('execution.state_changed');
  });
});
