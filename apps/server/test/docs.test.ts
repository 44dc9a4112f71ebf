import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OWNER_A, startTestServer } from './support/server.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SERVER_DIR = fileURLToPath(new URL('../', import.meta.url));

/** The Markdown a reader follows: the README, docs/, and each package's and app's README. */
function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md')];
  for (const name of readdirSync(join(ROOT, 'docs'))) {
    if (name.endsWith('.md')) files.push(join(ROOT, 'docs', name));
  }
  for (const parent of ['apps', 'packages']) {
    for (const name of readdirSync(join(ROOT, parent))) {
      const readme = join(ROOT, parent, name, 'README.md');
      if (existsSync(readme)) files.push(readme);
    }
  }
  return files;
}

/** The text outside fenced code blocks (whose `# comments` are no headings). */
function unfenced(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** The text outside code: fenced blocks and inline code hold no links. */
function prose(markdown: string): string {
  return unfenced(markdown).replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  // Inline code stays: a heading's code is part of its anchor (backticks dropped).
  const headings = unfenced(readFileSync(file, 'utf8')).match(/^#{1,6} .+$/gm) ?? [];
  return new Set(headings.map((heading) => slug(heading.replace(/^#+ /, ''))));
}

/** Every relative link (and image) of a file: its target and anchor, or why it is broken. */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  const text = prose(readFileSync(file, 'utf8'));
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (!target || /^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:
    const [path = '', anchor] = target.split('#');
    const resolved = path === '' ? file : resolve(dirname(file), path);
    const where = `${relative(ROOT, file)} → ${target}`;
    if (!resolved.startsWith(ROOT)) broken.push(`${where}: outside the repository`);
    else if (!existsSync(resolved)) broken.push(`${where}: no such file`);
    else if (anchor && !anchorsOf(resolved).has(anchor)) broken.push(`${where}: no such heading`);
  }
  return broken;
}

interface RunnableBlock {
  file: string;
  line: number;
  language: 'sh' | 'ts';
  code: string;
}

/** The code blocks marked runnable: ```sh runnable, ```ts runnable. */
function runnableBlocks(): RunnableBlock[] {
  const blocks: RunnableBlock[] = [];
  for (const file of markdownFiles()) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^```(sh|bash|ts) runnable\n([\s\S]*?)^```/gm)) {
      blocks.push({
        file: relative(ROOT, file),
        line: text.slice(0, match.index).split('\n').length,
        language: match[1] === 'ts' ? 'ts' : 'sh',
        code: match[2] as string,
      });
    }
  }
  return blocks;
}

const run = promisify(execFile);

describe('the docs', () => {
  it('link only to files and headings that exist in the repository', () => {
    const files = markdownFiles();
    expect(files.length).toBeGreaterThan(8);
    expect(files.flatMap(brokenLinks)).toEqual([]);
  });

  it('describe what is served as served: nothing is still "being added"', () => {
    for (const file of markdownFiles()) {
      expect(readFileSync(file, 'utf8'), relative(ROOT, file)).not.toMatch(/being added/i);
    }
  });

  it('run every block marked runnable, as written, against a real server', async () => {
    const blocks = runnableBlocks();
    // The curl walk-through and the eventsource example at least.
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    await using server = await startTestServer({ EXECSTREAM_DEMO: 'on' });
    const env = {
      ...process.env,
      EXECSTREAM_URL: server.url,
      EXECSTREAM_API_KEY: OWNER_A.key,
    };
    // The execution the TypeScript examples follow: a short deterministic run.
    const submitted = await fetch(`${server.url}/v1/trpc/v2.executions.submit`, {
      method: 'POST',
      headers: { 'X-API-KEY': OWNER_A.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        type: 'swap',
        params: { simulate: { steps: 5, intervalMs: 50, outcome: 'completed' } },
      }),
    });
    const { operationId } = (await submitted.json()).result.data;
    // Under the server's node_modules, so the examples' imports resolve as a reader's would.
    const scratch = join(SERVER_DIR, 'node_modules', '.cache');
    mkdirSync(scratch, { recursive: true });
    const dir = mkdtempSync(join(scratch, 'docs-'));
    try {
      for (const block of blocks) {
        const where = `${block.file}:${block.line}`;
        const { stdout } =
          block.language === 'sh'
            ? await run('bash', ['-eo', 'pipefail', '-c', block.code], { env, timeout: 60_000 })
            : await runTypeScript(dir, block, { ...env, EXECSTREAM_OPERATION_ID: operationId });
        expect(stdout.trim(), where).not.toBe('');
        // Each follows an execution to its end.
        expect(stdout, where).toMatch(/completed|failed/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** A TypeScript block as a module, with `url`, `apiKey` and `operationId` as the docs say. */
function runTypeScript(dir: string, block: RunnableBlock, env: NodeJS.ProcessEnv) {
  const file = join(dir, `block-${block.line}.mts`);
  const imports = block.code.match(/^import .*;$/gm) ?? [];
  const body = block.code.replace(/^import .*;$/gm, '');
  writeFileSync(
    file,
    [
      ...imports,
      'const url = process.env.EXECSTREAM_URL as string;',
      'const apiKey = process.env.EXECSTREAM_API_KEY as string;',
      'const operationId = process.env.EXECSTREAM_OPERATION_ID as string;',
      body,
    ].join('\n'),
  );
  return run(process.execPath, ['--import', 'tsx', file], {
    cwd: SERVER_DIR,
    env,
    timeout: 60_000,
  });
}
