import { type Envelope, type OperationId, serializeEnvelope } from '@execstream/event-schema';
import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from '@execstream/redis-testing';
import type { ExecutionStreams, ExecutionSubscription } from '@execstream/stream-service';
import { afterAll, expect } from 'vitest';
import {
  createRedisExecutionStreams,
  RedisBackend,
  type RedisBackendOptions,
} from '../src/index.ts';

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

/** A Redis-backed service, on a fresh key prefix unless one is given; `await using` closes it. */
export async function openRedisStreams(
  options: RedisBackendOptions & { maxQueuedEvents?: number },
) {
  return createRedisExecutionStreams({ keyPrefix: uniquePrefix(), ...options });
}

/** A Redis backend on a fresh key prefix unless one is given. */
export function openRedisBackend(options: RedisBackendOptions): Promise<RedisBackend> {
  return RedisBackend.connect({ keyPrefix: uniquePrefix(), ...options });
}

/** Every retained event of an execution, oldest first. */
export async function history(streams: ExecutionStreams, operationId: OperationId) {
  const events: Envelope[] = [];
  for (let after: string | null = null; ; ) {
    const page = await streams.readHistory(operationId, { after, limit: 1000 });
    events.push(...page.events);
    if (page.nextCursor === null) return events;
    after = page.nextCursor;
  }
}

/** Reads a subscription to its end in the background. */
export function reader(subscription: ExecutionSubscription) {
  const events: Envelope[] = [];
  const done = (async () => {
    for await (const envelope of subscription) events.push(envelope);
    return events;
  })();
  return { events, done };
}

/**
 * Asserts what a subscriber received is exactly the stored history from where it started: a
 * snapshot (when it started without a cursor) then every later event, each once, in order,
 * byte-identical to the stored events, ending with the terminal one.
 */
export function expectGapless(received: Envelope[], stored: Envelope[], startSequence: number) {
  let from = startSequence;
  let events = received;
  if (received[0]?.kind === 'execution.snapshot') {
    from = received[0].sequence;
    events = received.slice(1);
  }
  expect(events.map(serializeEnvelope)).toEqual(stored.slice(from).map(serializeEnvelope));
  expect(stored.at(-1)?.kind).toBe('execution.state_changed');
}

/** Resolves once `predicate` holds, polling; fails the test after `timeoutMs`. */
export async function eventually(predicate: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
