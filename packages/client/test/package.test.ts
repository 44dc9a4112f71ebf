import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { OWNER_A, startTestServer } from '@execstream/server/test-support';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixture', import.meta.url));
const INTEGRATORS = fileURLToPath(new URL('../../../docs/integrators.md', import.meta.url));
/** What a browser app may spend on `followExecution`, gzipped. */
const BROWSER_BUDGET_GZIP = 25 * 1024;
// What the scratch project installs besides the tarball, at the versions the workspace pins.
const PEERS = [
  'typescript@5.9.3',
  '@types/node@20.19.43',
  '@trpc/client@11.25.2',
  '@trpc/server@11.25.2',
  'eventsource@3.0.7',
];

/** The tRPC example of docs/integrators.md as written, with the two names it leaves to you. */
async function trpcExample(): Promise<string> {
  const docs = await readFile(INTEGRATORS, 'utf8');
  const section = docs.slice(docs.indexOf('## tRPC'));
  const code = /```ts[^\n]*\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('docs/integrators.md has no tRPC example');
  return `const [url, apiKey] = process.argv.slice(2) as [string, string];\n${code}`;
}

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
    await writeFile(join(project, 'trpc-example.ts'), await trpcExample());
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
    // .pnpmfile.cjs drops them: they name private workspace packages npm cannot resolve.
    expect(manifest.devDependencies).toBeUndefined();
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

  it(`bundles followExecution for browsers within ${BROWSER_BUDGET_GZIP / 1024} KB gzip`, async () => {
    const project = join(scratch, 'project');
    const bundle = await build({
      stdin: {
        contents: "export { followExecution } from '@execstream/client';",
        resolveDir: project,
      },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const code = bundle.outputFiles[0]?.contents ?? new Uint8Array();
    // Every envelope is still validated with the full schema (zod's mini API, tree-shaken).
    expect(new TextDecoder().decode(code)).toContain('cursor must look like <ms>-<seq>');
    expect(gzipSync(code).length).toBeLessThanOrEqual(BROWSER_BUDGET_GZIP);
  });

  it("runs docs/integrators.md's tRPC example as written on Node 20", async () => {
    await using server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    const project = join(scratch, 'project');
    await run(join(project, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.trpc.json'], {
      cwd: project,
    });
    const { stdout, stderr } = await run(
      process.execPath,
      ['out/trpc-example.js', server.url, OWNER_A.key],
      { cwd: project, timeout: 60_000 },
    );
    expect(stderr).toBe('');
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('ended');
    expect(lines.at(-2)).toMatch(/^\d+-\d+ execution\.state_changed$/);
  });
});
