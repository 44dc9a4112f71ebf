import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from '@execstream/redis-testing';
import { afterAll } from 'vitest';
import { createRedisExecutionStreams, type RedisBackendOptions } from '../src/index.ts';

/**
 * One real process (or cluster) per test file, started on first use and stopped after the
 * file's last test. Tests that need a fresh store get a unique key prefix instead of a server.
 */
function sharedForFile<T extends { stop(): Promise<void> }>(start: () => Promise<T>) {
  let started: Promise<T> | undefined;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => {
    started ??= start();
    return started;
  };
}

export const redisServerForFile = (): (() => Promise<RedisServerHandle>) =>
  sharedForFile(() => startRedisServer());

export const redisClusterForFile = (): (() => Promise<RedisClusterHandle>) =>
  sharedForFile(() => startRedisCluster());

export function clusterUrl(cluster: RedisClusterHandle): string {
  return `redis+cluster://${cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',')}`;
}

let prefixes = 0;

/** A key prefix no other service in this run uses: a fresh, empty store on a shared Redis. */
export function uniquePrefix(): string {
  prefixes++;
  return `t${process.pid}-${prefixes}`;
}

/** A fresh Redis-backed service that closes at the end of the `await using` scope. */
export async function openRedisStreams(
  options: Omit<RedisBackendOptions, 'keyPrefix'> & { maxQueuedEvents?: number },
) {
  const streams = await createRedisExecutionStreams({ ...options, keyPrefix: uniquePrefix() });
  return streams;
}
