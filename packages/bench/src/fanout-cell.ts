import { redisCommand, startRedisServer } from '@execstream/redis-testing';
import { BARE_SUBSCRIBE_PATH } from './bare-node.ts';
import type { FanOutRow, Server } from './fanout-rows.ts';
import { NCHAN_SUBSCRIBE_PATH, startNchan } from './nchan.ts';
import { treeStats } from './proc.ts';
import { PublisherProcess } from './publisher-client.ts';
import { percentile } from './report.ts';
import { BENCH_KEY, spawnBareNode, spawnBenchServer } from './server.ts';
import { monotonicMs, SseReader, type SseReaderOptions } from './sse-reader.ts';

/** What one run of one row on one server measured. */
export interface CellRun {
  /** From the send to a reader taking the event off the wire, in ms. */
  p50: number;
  p99: number;
  /** From when the event was due to be sent: counts a publisher kept waiting. */
  scheduleP99: number;
  /** Server CPU (user + system) per 1,000 events delivered, over publishing and delivery. */
  cpuPerThousand: number;
  userPerThousand: number;
  /** Growth of the server's RSS while the streams opened, per stream, in KiB. */
  rssPerStream: number;
  /** Events per second the publisher reached (open loop; short of the rate when it waits). */
  publishedPerSecond: number;
  delivered: number;
  /**
   * The share of one core the benchmark's own process (the readers) used meanwhile: near 1, its
   * queueing is in the latencies.
   */
  harnessCpuShare: number;
  /** Readers that did not get every event exactly once, in order. */
  violations: number;
  /** Redis read commands per reader caused by the resume, beyond what publishing costs. */
  resumeReadsPerReader: number | null;
  /** The same, every command by name, per reader. */
  resumeCommandsPerReader: Record<string, number> | null;
}

const OPEN_WAVE = 200;
/** How long delivery may make no progress before the run is judged over. */
const STALL_MS = 10_000;
/** Warm-up events that calibrate what publishing costs Redis, in a resume row. */
const CALIBRATION_EVENTS = 20;
// The commands by which a store is read (also when a Lua script calls them: INFO counts those).
const READ_COMMANDS = new Set([
  'get',
  'mget',
  'hget',
  'hmget',
  'hgetall',
  'lrange',
  'lindex',
  'zrange',
  'zrangebyscore',
  'zrevrange',
  'zrevrangebyscore',
  'xrange',
  'xrevrange',
  'xread',
  'xreadgroup',
]);

function readerTarget(server: Server, id: string): Omit<SseReaderOptions, 'port' | 'onEvent'> {
  const auth = { 'X-API-KEY': BENCH_KEY };
  switch (server) {
    case 'nchan':
      return { path: `${NCHAN_SUBSCRIBE_PATH}${id}` };
    case 'bare':
      return { path: `${BARE_SUBSCRIBE_PATH}${id}` };
    case 'sse':
      return { path: `/v1/executions/${id}/stream`, headers: auth };
    case 'trpc': {
      const input = encodeURIComponent(JSON.stringify({ operationId: id }));
      return { path: `/v1/trpc/v2.executions.stream?input=${input}`, headers: auth };
    }
    case 'agui':
      // Each canonical event yields several AG-UI frames; progress is its `CUSTOM` one.
      return {
        path: `/v1/ai/executions/${id}/ag-ui-stream`,
        headers: auth,
        frameFilter: '"type":"CUSTOM"',
      };
  }
}

async function commandStats(port: number): Promise<Map<string, number>> {
  const text = String(await redisCommand(port, ['INFO', 'commandstats']));
  const calls = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}

function delta(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const result = new Map<string, number>();
  for (const [name, calls] of after) {
    // INFO is the benchmark's own reading.
    if (name !== 'info') result.set(name, calls - (before.get(name) ?? 0));
  }
  return result;
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves once `count()` reaches `target`, or once it has not moved for `STALL_MS`. */
async function untilDoneOrStalled(count: () => number, target: number): Promise<void> {
  let last = count();
  let movedAt = performance.now();
  while (count() < target) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (count() !== last) {
      last = count();
      movedAt = performance.now();
    } else if (performance.now() - movedAt > STALL_MS) {
      return;
    }
  }
}

/** A server under test: where readers connect and which process tree is its. */
async function startServer(server: Server, redisUrl: string) {
  if (server === 'nchan') {
    const nchan = await startNchan(redisUrl);
    return { port: nchan.port, pid: nchan.pid, stop: () => nchan.stop() };
  }
  // The bare Node floor keeps nothing in Redis: the harness's redis-server idles beside it.
  const { port, child } =
    server === 'bare' ? await spawnBareNode() : await spawnBenchServer(redisUrl);
  return {
    port,
    pid: child.pid as number,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * One run of a row on one server, everything fresh: its own `redis-server`, the server, the
 * publisher process. Readers open in waves and must each take a warm-up event before anything
 * is measured; then the publisher publishes at the row's rate and the run lasts until every
 * reader has every event (or delivery stalls for `STALL_MS`).
 */
export async function runCell(row: FanOutRow, server: Server): Promise<CellRun> {
  await using redis = await startRedisServer();
  const target = await startServer(server, redis.url);
  const readers: SseReader[] = [];
  try {
    await using publisher = new PublisherProcess();
    const { ids } = await publisher.ask<'ready'>({
      type: 'setup',
      server: server === 'nchan' || server === 'bare' ? server : 'execstream',
      executions: row.executions,
      redisUrl: redis.url,
      port: target.port,
    });
    const latencies: number[] = [];
    const fromSchedule: number[] = [];
    let delivered = 0;
    const onEvent = (_round: number, sentAt: number, dueAt: number) => {
      delivered++;
      const now = monotonicMs();
      latencies.push(now - sentAt);
      fromSchedule.push(now - dueAt);
    };
    const idle = await treeStats(target.pid);
    for (const id of ids) {
      for (let index = 0; index < row.readersPerExecution; index++) {
        readers.push(new SseReader({ port: target.port, onEvent, ...readerTarget(server, id) }));
        if (readers.length % OPEN_WAVE === 0) {
          const wave = readers.slice(-OPEN_WAVE);
          await until(() => wave.every((r) => r.status !== null), 60_000, 'opening streams');
        }
      }
    }
    await until(() => readers.every((r) => r.status !== null), 60_000, 'opening streams');
    const refused = readers.find((reader) => !reader.status?.includes(' 200'));
    if (refused) throw new Error(`${server} refused a stream: ${refused.status}`);
    // A stream is open once it took an event: publish warm-ups until every reader has one.
    for (let attempt = 0; !readers.every((r) => r.warmups > 0); attempt++) {
      if (attempt === 10) throw new Error(`${server}: readers never took a warm-up event`);
      await publisher.ask({ type: 'warm', count: 1 });
      await until(() => readers.every((r) => r.warmups > 0), 5_000, 'warm-up').catch(() => {});
    }
    const opened = await treeStats(target.pid);

    let publishCost: Map<string, number> | null = null;
    if (row.resume) {
      const warmed = readers.reduce((sum, reader) => sum + reader.warmups, 0);
      const before = await commandStats(redis.port);
      await publisher.ask({ type: 'warm', count: CALIBRATION_EVENTS });
      publishCost = delta(await commandStats(redis.port), before);
      const calibrated = warmed + readers.length * CALIBRATION_EVENTS;
      await until(
        () => readers.reduce((sum, reader) => sum + reader.warmups, 0) >= calibrated,
        30_000,
        'calibration',
      );
    }

    const expected = readers.length * row.rounds;
    const start = await treeStats(target.pid);
    const harnessStart = process.cpuUsage();
    const harnessStartedAt = performance.now();
    const commandsBefore = await commandStats(redis.port);
    const published = publisher.ask<'done'>({
      type: 'run',
      rounds: row.rounds,
      ratePerSecond: row.ratePerSecond,
    });
    if (row.resume) {
      await new Promise((resolve) => setTimeout(resolve, row.resume?.afterMs));
      for (const reader of readers) reader.drop();
      await new Promise((resolve) => setTimeout(resolve, row.resume?.offlineMs));
      for (const reader of readers) reader.resume();
    }
    const { published: count, elapsedMs } = await published;
    await untilDoneOrStalled(() => delivered, expected);
    const done = await treeStats(target.pid);
    const harness = process.cpuUsage(harnessStart);
    const harnessCpuShare =
      (harness.user + harness.system) / 1000 / (performance.now() - harnessStartedAt);
    const commands = delta(await commandStats(redis.port), commandsBefore);

    let resumeReadsPerReader: number | null = null;
    let resumeCommandsPerReader: Record<string, number> | null = null;
    if (publishCost) {
      // What the resume cost Redis: the run's commands less what its publishing costs.
      resumeCommandsPerReader = {};
      resumeReadsPerReader = 0;
      for (const [name, calls] of commands) {
        const publishing = ((publishCost.get(name) ?? 0) / CALIBRATION_EVENTS) * count;
        const extra = Math.max(0, calls - publishing) / readers.length;
        if (extra >= 0.01) resumeCommandsPerReader[name] = extra;
        if (READ_COMMANDS.has(name)) resumeReadsPerReader += extra;
      }
    }

    const inOrder = Array.from({ length: row.rounds }, (_, round) => round).join(',');
    latencies.sort((a, b) => a - b);
    fromSchedule.sort((a, b) => a - b);
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      scheduleP99: percentile(fromSchedule, 99),
      cpuPerThousand: ((done.user + done.system - start.user - start.system) / delivered) * 1000,
      userPerThousand: ((done.user - start.user) / delivered) * 1000,
      rssPerStream: (opened.rss - idle.rss) / readers.length,
      publishedPerSecond: count / (elapsedMs / 1000),
      harnessCpuShare,
      delivered,
      violations: readers.filter((reader) => reader.rounds.join(',') !== inOrder).length,
      resumeReadsPerReader,
      resumeCommandsPerReader,
    };
  } finally {
    for (const reader of readers) reader.close();
    await target.stop();
  }
}
