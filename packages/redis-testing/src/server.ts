import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, spawnOwned, terminate } from './process.ts';
import { redisCommand } from './resp.ts';

export interface RedisServerOptions {
  /**
   * Extra `redis-server` arguments, appended after the defaults so they win, e.g.
   * `['--appendfsync', 'always']`.
   * @default []
   */
  args?: string[];
  /**
   * The data directory. A directory given here is kept on `stop()`.
   * @default a new temporary directory, removed on `stop()`
   */
  dir?: string;
}

export interface RedisServerHandle extends AsyncDisposable {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The data directory (AOF and RDB files). */
  readonly dir: string;
  /** Shuts the server down for good and removes its temporary data directory. */
  stop(): Promise<void>;
  /**
   * Shuts the server down gracefully (it persists its data) and starts it again on the same port
   * with the same data directory, after `downForMs` without a server. After `kill()` it just
   * starts it again.
   */
  restart(options?: { downForMs?: number }): Promise<void>;
  /** SIGKILL: the server dies without a chance to persist anything more. */
  kill(): Promise<void>;
  /**
   * SIGSTOP: the server stops answering but keeps every connection open, as a stalled host
   * does; nothing tells its clients, whose commands just wait. `resume()` undoes it.
   */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
}

/** Internal: also used for cluster nodes, which need a second (cluster bus) port. */
export interface LaunchOptions extends RedisServerOptions {
  /** Reserve a cluster bus port per attempt and pass it as `--cluster-port`. */
  clusterBus?: boolean;
}

// The defaults keep data across a graceful restart (AOF, flushed on SIGTERM) while staying fast
// enough for benchmarks (fsync once a second, no RDB snapshots in the background).
const DEFAULT_ARGS = [
  '--bind',
  '127.0.0.1',
  '--protected-mode',
  'no',
  '--daemonize',
  'no',
  '--save',
  '',
  '--appendonly',
  'yes',
  '--appendfsync',
  'everysec',
];
const READY_TIMEOUT_MS = 20_000;
const PORT_ATTEMPTS = 5;

/**
 * Starts a real `redis-server` on a free loopback port and waits until it answers PING. Throws
 * (never skips) when the binary is missing. Dispose it with `await using`.
 */
export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RedisServerHandle> {
  return launchRedisServer(options);
}

export async function launchRedisServer(options: LaunchOptions): Promise<RedisServerHandle> {
  const binary = requireBinary('redis-server');
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'execstream-redis-')));
  const extraArgs = options.args ?? [];

  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    const busArgs = options.clusterBus ? ['--cluster-port', String(await freePort())] : [];
    const args = ['--port', String(port), '--dir', dir, ...DEFAULT_ARGS, ...busArgs, ...extraArgs];
    try {
      const child = await spawnReady(binary, args, port);
      return new ServerHandle(binary, args, port, dir, ownsDir, child);
    } catch (error) {
      lastError = error as Error;
      // Another process took the port between our probe and the server's bind: try another.
      if (!/address already in use/i.test(lastError.message)) break;
    }
  }
  if (ownsDir) await rm(dir, { recursive: true, force: true });
  throw lastError ?? new Error('redis-server did not start');
}

class ServerHandle implements RedisServerHandle {
  readonly url: string;
  #child: ChildProcess | null;
  #stopped = false;

  constructor(
    readonly binary: string,
    readonly args: readonly string[],
    readonly port: number,
    readonly dir: string,
    readonly ownsDir: boolean,
    child: ChildProcess,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.#child = child;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // A paused server would hold SIGTERM pending until it is resumed.
    this.resume();
    if (this.#child) await terminate(this.#child, 'SIGTERM');
    this.#child = null;
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }

  async restart(options: { downForMs?: number } = {}): Promise<void> {
    if (this.#stopped) throw new Error('this redis-server was stopped for good');
    this.resume();
    if (this.#child) await terminate(this.#child, 'SIGTERM');
    this.#child = null;
    if (options.downForMs) await new Promise((resolve) => setTimeout(resolve, options.downForMs));
    this.#child = await spawnReady(this.binary, this.args, this.port);
  }

  async kill(): Promise<void> {
    if (this.#child) await terminate(this.#child, 'SIGKILL');
    this.#child = null;
  }

  pause(): void {
    if (!this.#child) throw new Error('this redis-server is not running');
    this.#child.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Spawns the server and resolves once PING answers; rejects with its output if it exits. */
async function spawnReady(
  binary: string,
  args: readonly string[],
  port: number,
): Promise<ChildProcess> {
  const child = spawnOwned(binary, args);
  let output = '';
  const collect = (chunk: Buffer) => {
    // The tail is enough to say why a server did not start.
    output = (output + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited while starting:\n${output}`);
    }
    try {
      if ((await redisCommand(port, ['PING'], { timeoutMs: 1_000 })) === 'PONG') return child;
    } catch {
      // Not listening yet, or still loading its data: poll again.
    }
    if (Date.now() > deadline) {
      await terminate(child, 'SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
