import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

const INSTALL_HINT =
  'install it with `apt-get install -y redis-server` (it also provides redis-cli)';

/** The absolute path of a Redis binary on PATH; throws with how to install it when missing. */
export function requireBinary(name: 'redis-server' | 'redis-cli'): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory: keep looking.
    }
  }
  throw new Error(`${name} is not on PATH: the Redis tests need a real Redis; ${INSTALL_HINT}`);
}

/** A loopback port the OS reports free: listen on port 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port the OS assigned'));
      });
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts a long-lived child that dies with this process. Two guards: an `exit` hook kills it when
 * this process exits normally, and a tiny watchdog shell kills it when this process dies in a way
 * that runs no hook (SIGKILL, a crashed test worker), so no orphaned server outlives a test run.
 */
export function spawnOwned(command: string, args: readonly string[]): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of live) child.kill('SIGKILL');
    });
  }
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (child.pid !== undefined) {
    const watchdog = spawn(
      'sh',
      [
        '-c',
        'while kill -0 "$0" 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$1" 2>/dev/null',
        String(process.pid),
        String(child.pid),
      ],
      { stdio: 'ignore', detached: true },
    );
    watchdog.unref();
  }
  return child;
}

/** Sends `signal` and resolves once the child has exited; escalates to SIGKILL after `graceMs`. */
export function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const escalate = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(escalate);
      resolve();
    });
    child.kill(signal);
  });
}
