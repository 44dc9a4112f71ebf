import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PRODUCER } from './server.ts';

const WORKER = fileURLToPath(
  new URL('../../../../examples/python-worker/worker.py', import.meta.url),
);

export interface WorkerProcess extends AsyncDisposable {
  child: ChildProcess;
  /** Settles when the worker exits, with what it printed. */
  exited: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>;
  /** What it has printed so far. */
  stdout(): string;
}

/** The example Python worker (examples/python-worker) against `url`, for one run (`--once`). */
export function spawnPythonWorker(url: string, args: string[]): WorkerProcess {
  const child = spawn('python3', [WORKER, '--url', url, '--once', ...args], {
    env: { ...process.env, EXECSTREAM_PRODUCER_KEY: PRODUCER.key },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<Awaited<WorkerProcess['exited']>>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    exited,
    stdout: () => stdout,
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
