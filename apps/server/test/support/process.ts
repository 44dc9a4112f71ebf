import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OWNER_A } from './server.ts';

const APP = fileURLToPath(new URL('../..', import.meta.url));

/** A server started exactly as `pnpm start` starts it, in a process of its own. */
export interface ServerProcess extends AsyncDisposable {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string>;
  /** Everything the process has written to stderr so far (the start banner goes there). */
  stderr(): string;
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

/**
 * `args`: what `node` runs, from `cwd` (apps/server); by default the sources through tsx, as
 * `pnpm start` does (`['dist/main.mjs']` runs the production build).
 */
export async function spawnServer(
  env: Record<string, string>,
  // `node --import tsx`, not the tsx CLI: the CLI runs the server in a grandchild, which a
  // SIGKILL of the CLI would leave running.
  args: string[] = ['--import', 'tsx', 'src/main.ts'],
  cwd: string = APP,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk) => {
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        if (line.includes('"msg":"listening"')) resolve(JSON.parse(line).url);
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    void exited.then((code) =>
      reject(new Error(`server exited (${code}) before listening: ${stderr}`)),
    );
  });
  const kill = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    url,
    child,
    exited,
    stderr: () => stderr,
    kill,
    [Symbol.asyncDispose]: async () => void (await kill('SIGKILL')),
  };
}

/** The environment of a spawned server on Redis: any free port, owner A's key, the demo on. */
export function redisServerEnv(
  redisUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    PORT: '0',
    EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId}`,
    EXECSTREAM_DEMO: 'on',
    ...extra,
  };
}
