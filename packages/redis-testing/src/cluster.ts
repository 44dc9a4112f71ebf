import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireBinary } from './process.ts';
import { redisCommand } from './resp.ts';
import { launchRedisServer, type RedisServerHandle } from './server.ts';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /**
   * Master nodes (no replicas). Redis Cluster needs at least 3.
   * @default 3
   */
  masters?: number;
  /**
   * Extra `redis-server` arguments for every node.
   * @default []
   */
  args?: string[];
}

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisClusterHandle extends AsyncDisposable {
  /** The masters, each owning a third (with 3) of the hash slots. */
  readonly nodes: RedisClusterNode[];
  /** Stops every node and removes their data directories. */
  stop(): Promise<void>;
}

const STATE_TIMEOUT_MS = 30_000;

/**
 * Starts a Redis Cluster of real `redis-server --cluster-enabled yes` processes on loopback,
 * joins them with `redis-cli --cluster create`, and waits until every node reports
 * `cluster_state:ok` and knows every master, so the first command a test sends is not redirected
 * to a node that has not heard of the others yet.
 */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  if (masters < 3) throw new Error('Redis Cluster needs at least 3 masters');
  const cli = requireBinary('redis-cli');
  const servers: RedisServerHandle[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const started = await Promise.all(
      Array.from({ length: masters }, () =>
        launchRedisServer({
          clusterBus: true,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
            // AOF is pointless for throwaway cluster nodes and slows every write.
            '--appendonly',
            'no',
            ...(options.args ?? []),
          ],
        }),
      ),
    );
    servers.push(...started);
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    try {
      await run(
        cli,
        ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
        {
          timeout: STATE_TIMEOUT_MS,
        },
      );
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`redis-cli --cluster create failed:\n${stdout ?? ''}${stderr ?? ''}`);
    }
    await Promise.all(servers.map((server) => waitForClusterOk(server.port, masters)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes: servers.map((server) => ({ host: '127.0.0.1', port: server.port })),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function waitForClusterOk(port: number, masters: number): Promise<void> {
  const deadline = Date.now() + STATE_TIMEOUT_MS;
  let info = '';
  for (;;) {
    info = String(await redisCommand(port, ['CLUSTER', 'INFO']));
    const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
    if (
      field('cluster_state') === 'ok' &&
      Number(field('cluster_known_nodes')) === masters &&
      Number(field('cluster_size')) === masters
    ) {
      return;
    }
    if (Date.now() > deadline) throw new Error(`cluster node ${port} never became ready:\n${info}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
