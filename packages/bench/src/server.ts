import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './report.ts';

/** The API key and owner every benchmark's server accepts. */
export const BENCH_KEY = 'bench-key-0000000000000001';
export const BENCH_OWNER = 'bench';

/** Which server the benchmarks run, as the report names it. */
export function benchServerKind(): string {
  const kind = fromSource()
    ? 'source through tsx (EXECSTREAM_BENCH_SERVER=source)'
    : 'production build (node dist/main.mjs)';
  const workers = Number(process.env.EXECSTREAM_WORKERS ?? 1);
  return workers > 1 ? `${kind}, ${workers} workers (EXECSTREAM_WORKERS)` : kind;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const nodeArgs = () => process.env.EXECSTREAM_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const fromSource = () => process.env.EXECSTREAM_BENCH_SERVER === 'source';
const serverDir = () => process.env.EXECSTREAM_BENCH_SERVER_DIR ?? join(REPO_ROOT, 'apps/server');

let built = false;

/**
 * The entry to run. By default the production build, built once per run, because that is what
 * a team deploys: tsx's loader keeps every function's name, which gives each named closure a
 * dictionary of its own and costs the source run memory and time a deployment never pays.
 */
function entry(): string[] {
  if (fromSource()) return ['--import', 'tsx', 'src/main.ts'];
  if (!built) {
    execFileSync('pnpm', ['run', 'build'], {
      cwd: serverDir(),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    built = true;
  }
  return ['dist/main.mjs'];
}

/**
 * The server in a process of its own so its CPU and memory are its own, on the benchmark's
 * Redis with the demo off: its production build, or (`EXECSTREAM_BENCH_SERVER=source`) its
 * source as `pnpm start` runs it. `EXECSTREAM_BENCH_SERVER_DIR` points at another checkout's
 * `apps/server` (an older commit), so two versions meet the same harness;
 * `EXECSTREAM_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` profiles it.
 */
export async function spawnBenchServer(
  redisUrl: string,
  env: Record<string, string> = {},
): Promise<{ url: string; port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [...nodeArgs(), ...entry()], {
    cwd: serverDir(),
    env: {
      ...process.env,
      PORT: '0',
      REDIS_URL: redisUrl,
      EXECSTREAM_API_KEYS: `${BENCH_KEY}:${BENCH_OWNER}`,
      EXECSTREAM_DEMO: 'off',
      // The benchmarks measure fan-out, not the per-owner limit on open streams.
      EXECSTREAM_MAX_STREAMS_PER_OWNER: '100000',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const workers = Number(env.EXECSTREAM_WORKERS ?? process.env.EXECSTREAM_WORKERS ?? 1);
  // With EXECSTREAM_WORKERS, once every worker listens (the primary says so), so that the
  // readers' connections spread over all of them.
  const url = await listeningUrl(
    child,
    workers > 1 ? '"msg":"cluster listening"' : '"msg":"listening"',
  );
  return { url, port: Number(new URL(url).port), child };
}

/** The URL in the first JSON log line that contains `marker`; rejects if the child exits first. */
function listeningUrl(child: ChildProcess, marker: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk;
      const line = buffered.split('\n').find((row) => row.includes(marker));
      if (!line) return;
      // Keep draining its logs, so a full pipe never stalls the server being measured.
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve(JSON.parse(line).url);
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/**
 * The bare Node broadcaster (`bare-node-main.ts`), the fan-out benchmark's floor, in a process of
 * its own like the execstream server (`EXECSTREAM_BENCH_NODE_ARGS` applies to it too). It runs
 * through tsx, which only compiles it at start: it creates no named closure per stream, so
 * tsx's kept names cost it nothing per stream.
 */
export async function spawnBareNode(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [...nodeArgs(), '--import', 'tsx', join(HERE, 'bare-node-main.ts')],
    {
      cwd: join(HERE, '..'),
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await listeningUrl(child, '"msg":"listening"');
  return { port: Number(new URL(url).port), child };
}
