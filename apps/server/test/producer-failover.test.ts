import type { Envelope, ProgressPayload } from '@execstream/event-schema';
import { startRedisCluster, startRedisServer } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { openRedisStores } from '../src/index.ts';
import { spawnPythonWorker } from './support/python-worker.ts';
import { OWNER_A, startTestServer } from './support/server.ts';
import { eventData, readSse } from './support/sse.ts';
import { trpcClient } from './support/trpc.ts';

const STEPS = 40;

/** A server on a fresh Redis or Redis Cluster of its own; disposing stops both. */
async function serverOn(kind: 'redis' | 'cluster') {
  const redis = kind === 'redis' ? await startRedisServer() : await startRedisCluster();
  const url =
    'url' in redis
      ? redis.url
      : `redis+cluster://${redis.nodes.map((node) => `${node.host}:${node.port}`).join(',')}`;
  const server = await startTestServer({}, { stores: await openRedisStores(url, () => {}) });
  return Object.assign(server, {
    [Symbol.asyncDispose]: async () => {
      await server.close();
      await redis.stop();
    },
  });
}

/** Who sent each progress event (`Step i of n (A)`), in stream order. */
function authors(events: Envelope[]): { step: number; by: string }[] {
  return events.flatMap((event) => {
    if (event.kind !== 'execution.progress') return [];
    const match = /^Step (\d+) of \d+ \((\w+)\)$/.exec(
      (event.payload as ProgressPayload).message ?? '',
    );
    return match ? [{ step: Number(match[1]), by: match[2] as string }] : [];
  });
}

describe.each(['redis', 'cluster'] as const)('a worker that stops mid-run, on %s', (kind) => {
  it.each(['SIGKILL', 'SIGSTOP'] as const)(
    'after %s: its lease expires, another worker claims the run and finishes it; readers see one gapless history, none of the old holder after the new one',
    async (signal) => {
      await using server = await serverOn(kind);
      const client = trpcClient(server.url, OWNER_A.key);
      const { operationId } = await client.v2.executions.submit.mutate({ type: 'swap' });
      const reader = readSse(`${server.url}/v1/executions/${operationId}/stream?lastEventId=0`, {
        'X-API-KEY': OWNER_A.key,
      });
      const common = ['--lease-ms', '1000', '--steps', String(STEPS)];
      await using first = spawnPythonWorker(server.url, [
        ...common,
        '--interval',
        '0.05',
        '--name',
        'A',
      ]);
      for (;;) {
        const { progress } = await client.v2.executions.get.query({ operationId });
        if ((progress?.percent ?? 0) >= 20) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // SIGKILL: the holder is gone. SIGSTOP: frozen, it still believes it holds the run.
      first.child.kill(signal);
      await using second = spawnPythonWorker(server.url, [
        ...common,
        '--interval',
        '0.01',
        '--name',
        'B',
      ]);
      const taken = await second.exited;
      expect(taken.stderr).toBe('');
      expect(taken.stdout).toContain(`{"completed": "${operationId}"}`);
      if (signal === 'SIGSTOP') {
        // Thawed, the old holder is refused (the run ended, or its lease is another's) and stops.
        first.child.kill('SIGCONT');
        const old = await first.exited;
        expect(old.code).toBe(0);
        expect(old.stdout).toMatch(
          /"stopped": "op_[^"]+", "why": "(EXECUTION_TERMINAL|LEASE_LOST)"/,
        );
      }

      const events = eventData(await reader).map((data) => JSON.parse(data) as Envelope);
      expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
      const steps = authors(events);
      expect(steps.map((step) => step.step)).toEqual(
        Array.from({ length: STEPS }, (_, index) => index + 1),
      );
      const handOver = steps.findIndex((step) => step.by === 'B');
      expect(handOver).toBeGreaterThan(0);
      expect(steps.slice(handOver).every((step) => step.by === 'B')).toBe(true);
      expect(events.filter((event) => event.kind === 'execution.state_changed')).toHaveLength(3);
      expect(events.at(-1)?.payload).toMatchObject({ to: 'completed' });
      const snapshot = await client.v2.executions.get.query({ operationId });
      expect(snapshot).toMatchObject({ status: 'completed', sequence: events.length });
    },
  );
});
