import { access } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { redisCommand, startRedisCluster, startRedisServer } from '../src/index.ts';

describe('startRedisServer', () => {
  it('starts a real server on a free loopback port that answers commands', async () => {
    await using server = await startRedisServer();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await redisCommand(server.port, ['SET', 'greeting', 'hello'])).toBe('OK');
    expect(await redisCommand(server.port, ['GET', 'greeting'])).toBe('hello');
  });

  it('two servers get different ports', async () => {
    await using first = await startRedisServer();
    await using second = await startRedisServer();
    expect(first.port).not.toBe(second.port);
  });

  it('restart keeps the port and the data', async () => {
    await using server = await startRedisServer();
    await redisCommand(server.port, ['RPUSH', 'list', 'a', 'b']);
    const before = await redisCommand(server.port, ['INFO', 'server']);
    await server.restart();
    const after = await redisCommand(server.port, ['INFO', 'server']);
    // A new process: its run id changed.
    expect(runId(after)).not.toBe(runId(before));
    expect(await redisCommand(server.port, ['LRANGE', 'list', '0', '-1'])).toEqual(['a', 'b']);
  });

  it('kill takes the server down until restart brings it back', async () => {
    await using server = await startRedisServer({ args: ['--appendfsync', 'always'] });
    await redisCommand(server.port, ['SET', 'kept', '1']);
    await server.kill();
    await expect(redisCommand(server.port, ['PING'])).rejects.toThrow();
    await server.restart();
    expect(await redisCommand(server.port, ['GET', 'kept'])).toBe('1');
  });

  it('stop ends the server and removes its temporary data directory', async () => {
    const server = await startRedisServer();
    await server.stop();
    await expect(redisCommand(server.port, ['PING'])).rejects.toThrow();
    await expect(access(server.dir)).rejects.toThrow();
    await server.stop();
  });

  describe('without redis-server on PATH', () => {
    const path = process.env.PATH;
    afterEach(() => {
      process.env.PATH = path;
    });

    it('fails with how to install it, never skips', async () => {
      process.env.PATH = '/nonexistent';
      await expect(startRedisServer()).rejects.toThrow(/apt-get install -y redis-server/);
    });
  });
});

describe('startRedisCluster', () => {
  it('starts 3 masters that share every hash slot and report cluster_state ok', async () => {
    await using cluster = await startRedisCluster();
    expect(cluster.nodes).toHaveLength(3);
    for (const node of cluster.nodes) {
      const info = String(await redisCommand(node.port, ['CLUSTER', 'INFO']));
      expect(info).toMatch(/^cluster_state:ok/m);
      expect(info).toMatch(/^cluster_slots_assigned:16384/m);
    }
    const slots = (await redisCommand(cluster.nodes[0]?.port ?? 0, ['CLUSTER', 'SLOTS'])) as [
      number,
      number,
      [string, number],
    ][];
    const owners = new Set(slots.map((range) => range[2][1]));
    expect(owners).toEqual(new Set(cluster.nodes.map((node) => node.port)));
  });
});

function runId(info: unknown): string | undefined {
  return /^run_id:(\w+)/m.exec(String(info))?.[1];
}
