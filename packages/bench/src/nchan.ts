import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnOwned, terminate } from '@execstream/redis-testing';

const INSTALL_HINT = 'install it with `sudo apt-get install -y nginx-light libnginx-mod-nchan`';

/** Paths a running Nchan answers on; `<channel>` is any `[A-Za-z0-9_-]+`. */
export const NCHAN_PUBLISH_PATH = '/pub/';
export const NCHAN_SUBSCRIBE_PATH = '/sub/';

export interface NchanHandle extends AsyncDisposable {
  readonly port: number;
  /** The nginx master; its one worker is its child. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** The Nchan module's `.so` and version, from the Debian package that installed it. */
function nchanModule(): { path: string; version: string } {
  let files: string;
  let version: string;
  try {
    files = execFileSync('dpkg-query', ['-L', 'libnginx-mod-nchan'], { encoding: 'utf8' });
    // dpkg-query's own field syntax, not a template.
    const format = '-f=$' + '{Version}';
    version = execFileSync('dpkg-query', ['-W', format, 'libnginx-mod-nchan'], {
      encoding: 'utf8',
    });
  } catch {
    throw new Error(`Nchan (libnginx-mod-nchan) is not installed: ${INSTALL_HINT}`);
  }
  const path = files.split('\n').find((line) => line.endsWith('/ngx_nchan_module.so'));
  if (!path) throw new Error(`libnginx-mod-nchan ships no ngx_nchan_module.so: ${INSTALL_HINT}`);
  // `1:1.3.6+dfsg-2` → `1.3.6`
  return { path, version: /^(?:\d+:)?([\d.]+)/.exec(version)?.[1] ?? version };
}

/** The installed Nchan's version, e.g. `1.3.6`. */
export function nchanVersion(): string {
  return nchanModule().version;
}

/**
 * nginx.conf for one worker serving Nchan on Redis storage (`nchan_redis_pass`): a publisher
 * and an EventSource subscriber location per channel. Every path nginx writes is under `dir`,
 * so it runs as the current user. The buffer holds every event a benchmark publishes, so a
 * resuming reader is owed nothing Nchan has dropped; nginx's listen backlog is the kernel's
 * default of 511, as Node's is.
 */
export function nchanConfig(options: {
  modulePath: string;
  dir: string;
  port: number;
  redisUrl: string;
}): string {
  const { modulePath, dir, port, redisUrl } = options;
  return `load_module ${modulePath};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream bench_redis { nchan_redis_server ${redisUrl}; }
  server {
    listen 127.0.0.1:${port};
    nchan_redis_pass bench_redis;
    nchan_message_buffer_length 100000;
    nchan_message_timeout 1h;
    location ~ ^${NCHAN_PUBLISH_PATH}([\\w-]+)$ { nchan_publisher; nchan_channel_id $1; }
    location ~ ^${NCHAN_SUBSCRIBE_PATH}([\\w-]+)$ { nchan_subscriber eventsource; nchan_channel_id $1; }
  }
}
`;
}

/** Resolves once something accepts connections on the port; rejects if nginx exits first. */
async function listening(child: ChildProcess, port: number, errorLog: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(errorLog, 'utf8').catch(() => '');
      throw new Error(`nginx exited while starting:\n${log}`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} in time`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts nginx with Nchan from a generated config in a temporary directory
 * (`nginx -p <dir> -c <conf>`, as the current user), on a free loopback port, storing on the
 * Redis at `redisUrl`. Throws, naming the packages, when nginx or Nchan is missing.
 */
export async function startNchan(redisUrl: string): Promise<NchanHandle> {
  const module = nchanModule();
  const dir = await mkdtemp(join(tmpdir(), 'execstream-nchan-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nchanConfig({ modulePath: module.path, dir, port, redisUrl }));
  let child: ChildProcess;
  try {
    child = spawnOwned('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')]);
  } catch {
    throw new Error(`nginx is not installed: ${INSTALL_HINT}`);
  }
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', () => reject(new Error(`nginx is not on PATH: ${INSTALL_HINT}`))),
  );
  child.stdout?.resume();
  child.stderr?.resume();
  const stop = async () => {
    // SIGTERM is nginx's fast shutdown: open streams are closed, not waited for.
    await terminate(child, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([listening(child, port, join(dir, 'error.log')), spawnError]);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    pid: child.pid as number,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
