import { performance } from 'node:perf_hooks';
import type { EventDraft, OperationId } from '@execstream/event-schema';
import { createRedisExecutionStreams } from '@execstream/redis-store';
import { type RedisServerHandle, redisCommand, startRedisServer } from '@execstream/redis-testing';
import {
  createMemoryExecutionStreams,
  type ExecutionStreams,
  type ExecutionSubscription,
} from '@execstream/stream-service';
import { type Measure, percentile, type SuiteResult } from './report.ts';

/** Sizes of the store suite, in one place so the notes under the table cannot drift. */
const SIZES = {
  appendsOneStream: 5_000,
  streams: 1_000,
  appendsPerStream: 10,
  appendWorkers: 32,
  longTimeline: 5_000,
  longTimelineAppends: 1_000,
  fanoutEvents: 50,
  replayEvents: 10_000,
  connectionSubscribersPerStream: 10,
} as const;

interface Target {
  name: 'memory' | 'redis';
  open(options: {
    maxEventsPerStream?: number;
    connectionName?: string;
  }): Promise<ExecutionStreams>;
  /** Connections this process holds to the store, as the store counts them. */
  connections(connectionName: string): Promise<number | null>;
}

const progress = (percent: number): EventDraft => ({
  kind: 'execution.progress',
  payload: { percent },
});

async function runningExecution(streams: ExecutionStreams): Promise<OperationId> {
  const { record } = await streams.create({ ownerId: 'bench', type: 'swap' });
  await streams.append(record.operationId, [
    { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
  ]);
  return record.operationId;
}

function perSecond(count: number, startedAt: number): number {
  return count / ((performance.now() - startedAt) / 1_000);
}

/** Sequential single-event appends to one stream: each waits for the previous one. */
async function appendOneStream(streams: ExecutionStreams): Promise<number> {
  const operationId = await runningExecution(streams);
  const startedAt = performance.now();
  for (let index = 0; index < SIZES.appendsOneStream; index++) {
    await streams.append(operationId, [progress(index % 100)]);
  }
  return perSecond(SIZES.appendsOneStream, startedAt);
}

/**
 * Sequential timeline appends to an execution whose timeline is already long: an append reads
 * only the snapshot's head, so this should match a fresh stream's rate, not fall with length.
 */
async function appendLongTimeline(streams: ExecutionStreams): Promise<number> {
  const operationId = await runningExecution(streams);
  const timeline = (index: number): EventDraft => ({
    kind: 'execution.timeline_appended',
    payload: { message: `confirmation ${index}`, step: 'confirmations', data: { index } },
  });
  for (let loaded = 0; loaded < SIZES.longTimeline; loaded += 1_000) {
    await streams.append(
      operationId,
      Array.from({ length: 1_000 }, (_, index) => timeline(loaded + index)),
    );
  }
  const startedAt = performance.now();
  for (let index = 0; index < SIZES.longTimelineAppends; index++) {
    await streams.append(operationId, [timeline(SIZES.longTimeline + index)]);
  }
  return perSecond(SIZES.longTimelineAppends, startedAt);
}

/** Single-event appends spread over many streams by concurrent workers (one writer per stream). */
async function appendManyStreams(streams: ExecutionStreams): Promise<number> {
  const operationIds: OperationId[] = [];
  for (let index = 0; index < SIZES.streams; index++) {
    operationIds.push(await runningExecution(streams));
  }
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: SIZES.appendWorkers }, async (_, worker) => {
      for (let round = 0; round < SIZES.appendsPerStream; round++) {
        for (let index = worker; index < operationIds.length; index += SIZES.appendWorkers) {
          await streams.append(operationIds[index] as OperationId, [progress(round)]);
        }
      }
    }),
  );
  return perSecond(SIZES.streams * SIZES.appendsPerStream, startedAt);
}

async function subscribeMany(
  streams: ExecutionStreams,
  operationIds: readonly OperationId[],
  perStream: number,
): Promise<ExecutionSubscription[]> {
  const subscriptions: ExecutionSubscription[] = [];
  for (const operationId of operationIds) {
    // In chunks: thousands of reads at once would only measure queueing.
    for (let made = 0; made < perStream; made += 500) {
      const chunk = Math.min(500, perStream - made);
      subscriptions.push(
        ...(await Promise.all(Array.from({ length: chunk }, () => streams.subscribe(operationId)))),
      );
    }
  }
  return subscriptions;
}

/**
 * One stream, `subscribers` local subscribers. Paced: each event is appended once every
 * subscriber has the previous one, so latency is append start to delivery without queueing.
 * Then a burst of back-to-back appends measures deliveries per second.
 */
async function fanout(streams: ExecutionStreams, subscribers: number) {
  const operationId = await runningExecution(streams);
  const subscriptions = await subscribeMany(streams, [operationId], subscribers);
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let delivered = 0;
  let waiting: { count: number; resolve: () => void } | null = null;
  const total = SIZES.fanoutEvents * 2;
  const readers = subscriptions.map(async (subscription) => {
    let received = 0;
    for await (const envelope of subscription) {
      if (envelope.kind === 'execution.snapshot') continue;
      latencies.push(performance.now() - (sentAt.get(envelope.sequence) as number));
      delivered++;
      if (waiting && delivered >= waiting.count) waiting.resolve();
      if (++received === total) break;
    }
  });
  const deliveredTo = (count: number) =>
    new Promise<void>((resolve) => {
      if (delivered >= count) resolve();
      else waiting = { count, resolve };
    });

  let sequence = (await streams.getSnapshot(operationId)).sequence;
  for (let index = 0; index < SIZES.fanoutEvents; index++) {
    sentAt.set(++sequence, performance.now());
    await streams.append(operationId, [progress(index)]);
    await deliveredTo(subscribers * (index + 1));
  }
  const paced = [...latencies].sort((a, b) => a - b);

  const burstStartedAt = performance.now();
  for (let index = 0; index < SIZES.fanoutEvents; index++) {
    sentAt.set(++sequence, performance.now());
    await streams.append(operationId, [progress(index)]);
  }
  await deliveredTo(subscribers * total);
  const deliveriesPerSecond = perSecond(subscribers * SIZES.fanoutEvents, burstStartedAt);
  await Promise.all(readers);
  return { p50: percentile(paced, 50), p99: percentile(paced, 99), deliveriesPerSecond };
}

/** A subscriber that comes back after `replayEvents` events: it reads them all from the store. */
async function replay(streams: ExecutionStreams) {
  const operationId = await runningExecution(streams);
  const resumeFrom = (await streams.getSnapshot(operationId)).cursor;
  for (let appended = 0; appended < SIZES.replayEvents; appended += 1_000) {
    await streams.append(
      operationId,
      Array.from({ length: 1_000 }, (_, index) => progress(index % 100)),
    );
  }
  const startedAt = performance.now();
  const subscription = await streams.subscribe(operationId, { cursor: resumeFrom });
  let firstAfterMs = 0;
  let received = 0;
  for await (const _envelope of subscription) {
    if (received === 0) firstAfterMs = performance.now() - startedAt;
    if (++received === SIZES.replayEvents) break;
  }
  return { firstAfterMs, eventsPerSecond: perSecond(SIZES.replayEvents, startedAt) };
}

/** 10,000 subscribers on 1,000 streams: how many connections the store sees. */
async function connectionsHeld(target: Target): Promise<number | null> {
  const connectionName = `bench-${target.name}`;
  await using streams = await target.open({ connectionName });
  const operationIds: OperationId[] = [];
  for (let index = 0; index < SIZES.streams; index++) {
    operationIds.push(await runningExecution(streams));
  }
  const subscriptions = await subscribeMany(
    streams,
    operationIds,
    SIZES.connectionSubscribersPerStream,
  );
  const held = await target.connections(connectionName);
  for (const subscription of subscriptions) subscription.close();
  return held;
}

async function measure(target: Target, reset: () => Promise<void>) {
  const run = async <T>(label: string, body: (streams: ExecutionStreams) => Promise<T>) => {
    await reset();
    console.log(`  ${target.name}: ${label}`);
    await using streams = await target.open({ maxEventsPerStream: 20_000 });
    // Awaited here: returning the bare promise would dispose the service while it runs.
    return await body(streams);
  };
  return {
    appendOne: await run('append, one stream', appendOneStream),
    appendMany: await run('append, many streams', appendManyStreams),
    appendLongTimeline: await run('append, long timeline', appendLongTimeline),
    fanout1k: await run('fan-out ×1,000', (streams) => fanout(streams, 1_000)),
    fanout10k: await run('fan-out ×10,000', (streams) => fanout(streams, 10_000)),
    replay: await run('replay', replay),
    connections: await (async () => {
      await reset();
      console.log(`  ${target.name}: connections`);
      return connectionsHeld(target);
    })(),
  };
}

function redisTarget(server: RedisServerHandle): Target {
  let prefixes = 0;
  return {
    name: 'redis',
    open: (options) =>
      createRedisExecutionStreams({ url: server.url, keyPrefix: `bench${++prefixes}`, ...options }),
    async connections(connectionName) {
      const list = String(await redisCommand(server.port, ['CLIENT', 'LIST']));
      return list.split('\n').filter((line) => line.includes(` name=${connectionName}`)).length;
    },
  };
}

const memoryTarget: Target = {
  name: 'memory',
  open: async (options) => createMemoryExecutionStreams(options),
  // In process: no connection at all.
  connections: async () => null,
};

export async function runStoreSuite(): Promise<SuiteResult> {
  const memory = await measure(memoryTarget, async () => {});
  await using server = await startRedisServer();
  const redis = await measure(redisTarget(server), async () => {
    await redisCommand(server.port, ['FLUSHALL']);
  });
  const row = (
    label: string,
    unit: string,
    pick: (results: typeof memory) => number | null,
  ): Measure => ({ label, unit, values: { memory: pick(memory), redis: pick(redis) } });
  return {
    suite: 'store',
    title: 'Store level: the stream service on the memory and the Redis backend',
    columns: ['memory', 'redis'],
    measures: [
      row('append, one stream, sequential', 'events/s', (r) => r.appendOne),
      row(
        `append, ${SIZES.streams.toLocaleString('en-US')} streams, ${SIZES.appendWorkers} writers`,
        'events/s',
        (r) => r.appendMany,
      ),
      row(
        `append to a timeline of ${SIZES.longTimeline.toLocaleString('en-US')} entries, sequential`,
        'events/s',
        (r) => r.appendLongTimeline,
      ),
      row('fan-out 1 stream × 1,000 subscribers, latency p50', 'ms', (r) => r.fanout1k.p50),
      row('fan-out 1 stream × 1,000 subscribers, latency p99', 'ms', (r) => r.fanout1k.p99),
      row(
        'fan-out 1 stream × 1,000 subscribers',
        'deliveries/s',
        (r) => r.fanout1k.deliveriesPerSecond,
      ),
      row('fan-out 1 stream × 10,000 subscribers, latency p50', 'ms', (r) => r.fanout10k.p50),
      row('fan-out 1 stream × 10,000 subscribers, latency p99', 'ms', (r) => r.fanout10k.p99),
      row(
        'fan-out 1 stream × 10,000 subscribers',
        'deliveries/s',
        (r) => r.fanout10k.deliveriesPerSecond,
      ),
      row('replay of 10,000 missed events', 'events/s', (r) => r.replay.eventsPerSecond),
      row('replay of 10,000 missed events, first event after', 'ms', (r) => r.replay.firstAfterMs),
      row(
        'connections held, 10,000 subscribers on 1,000 streams',
        'connections',
        (r) => r.connections,
      ),
    ],
    notes: [
      'One Node.js process drives the service in process; Redis is a local `redis-server` (AOF, fsync every second) on loopback, started by the benchmark.',
      `Append: ${SIZES.appendsOneStream.toLocaleString('en-US')} single-event appends to one stream, each after the previous; then ${(SIZES.streams * SIZES.appendsPerStream).toLocaleString('en-US')} over ${SIZES.streams.toLocaleString('en-US')} streams by ${SIZES.appendWorkers} concurrent writers, one per stream at a time. Long timeline: ${SIZES.longTimelineAppends.toLocaleString('en-US')} single timeline appends to an execution that already has ${SIZES.longTimeline.toLocaleString('en-US')} timeline entries.`,
      `Fan-out latency: append start to delivery in each subscriber's loop, ${SIZES.fanoutEvents} events, each appended once all subscribers had the previous one. Deliveries/s: ${SIZES.fanoutEvents} events appended back to back, until every subscriber has them all.`,
      `Replay: a subscriber resumes from a cursor ${SIZES.replayEvents.toLocaleString('en-US')} events back (read from the store in pages of 500).`,
      'Connections: as Redis counts them (`CLIENT LIST`), every connection of the process; the memory store has none.',
    ],
  };
}
