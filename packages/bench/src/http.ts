import { request } from 'node:http';
import { SseDecoder } from '@execstream/event-schema';
import { createRedisExecutionStreams } from '@execstream/redis-store';
import { redisCommand, startRedisServer } from '@execstream/redis-testing';
import { ExecutionProducer, type ExecutionStreams } from '@execstream/stream-service';
import { type Measure, percentile, type SuiteResult } from './report.ts';
import { BENCH_KEY, BENCH_OWNER, spawnBenchServer } from './server.ts';

const SURFACES = ['sse', 'trpc'] as const;
type Surface = (typeof SURFACES)[number];
const FAN_OUT_SUBSCRIBERS = 1_000;
const FAN_OUT_EVENTS = 50;
const MANY_EXECUTIONS = 1_000;
const MANY_ROUNDS = 10;

/** One reader of one execution over raw HTTP; calls `onEvent` with each event's sequence. */
function subscribe(
  baseUrl: string,
  surface: Surface,
  operationId: string,
  onEvent: (sequence: number) => void,
): Promise<() => void> {
  const path =
    surface === 'sse'
      ? `/v1/executions/${operationId}/stream`
      : `/v1/trpc/v2.executions.stream?input=${encodeURIComponent(JSON.stringify({ operationId }))}`;
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { headers: { 'X-API-KEY': BENCH_KEY } }, (res) => {
      const decoder = new SseDecoder();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const message of decoder.push(chunk)) {
          if (message.event.startsWith('execution.') || message.event === 'message') {
            onEvent(JSON.parse(message.data).sequence);
          }
        }
      });
      res.on('error', () => {});
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}

async function serverMetrics(baseUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) values[match[1] as string] = Number(match[2]);
  }
  return values;
}

const delivered = (m: Record<string, number>, surface: Surface) =>
  m[`execstream_events_delivered_total{surface="${surface}"}`] ?? 0;

/** Resolves once `count()` reaches `target`. */
async function until(count: () => number, target: number): Promise<void> {
  while (count() < target) await new Promise((resolve) => setImmediate(resolve));
}

interface Scenario {
  latencies: number[];
  cpuPerThousand: number;
  memoryPerStream: number;
  connections: number;
}

async function runScenario(
  baseUrl: string,
  streams: ExecutionStreams,
  redisPort: number,
  surface: Surface,
  executions: number,
  subscribersEach: number,
  rounds: number,
): Promise<Scenario> {
  const producers: ExecutionProducer[] = [];
  for (let index = 0; index < executions; index++) {
    const { record } = await streams.create({ ownerId: BENCH_OWNER, type: 'swap' });
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    await producer.start();
    producers.push(producer);
  }
  const before = await serverMetrics(baseUrl);
  // Latency: from just before an append to each reader parsing that event off the wire.
  const appendStarted = new Map<string, number>();
  const expected = { sequence: 2 };
  const latencies: number[] = [];
  let received = 0;
  const closers: (() => void)[] = [];
  for (const producer of producers) {
    const { operationId } = producer;
    for (let index = 0; index < subscribersEach; index++) {
      closers.push(
        await subscribe(baseUrl, surface, operationId, (sequence) => {
          received++;
          const started = appendStarted.get(operationId);
          if (sequence === expected.sequence && started !== undefined) {
            latencies.push(performance.now() - started);
          }
        }),
      );
    }
  }
  const readers = executions * subscribersEach;
  // Every reader has its snapshot (sequence 2): all streams are open and live.
  await until(() => received, readers);
  const opened = await serverMetrics(baseUrl);
  for (let round = 1; round <= rounds; round++) {
    expected.sequence = 2 + round;
    const target = received + readers;
    await Promise.all(
      producers.map((producer) => {
        appendStarted.set(producer.operationId, performance.now());
        return producer.progress(round % 100);
      }),
    );
    await until(() => received, target);
  }
  const after = await serverMetrics(baseUrl);
  const clients = String(await redisCommand(redisPort, ['CLIENT', 'LIST']))
    .split('\n')
    .filter((line) => line.includes('name=execstream') && !line.includes('name=execstream-bench'));
  for (const close of closers) close();
  const cpu = (after.process_cpu_seconds_total ?? 0) - (before.process_cpu_seconds_total ?? 0);
  const events = delivered(after, surface) - delivered(before, surface);
  const rss =
    (opened.process_resident_memory_bytes ?? 0) - (before.process_resident_memory_bytes ?? 0);
  return {
    latencies,
    cpuPerThousand: (cpu / events) * 1000,
    memoryPerStream: rss / readers / 1024,
    connections: clients.length,
  };
}

async function measureSurfaces(): Promise<Record<Surface, { fanOut: Scenario; many: Scenario }>> {
  await using redis = await startRedisServer();
  const streams = await createRedisExecutionStreams({
    url: redis.url,
    connectionName: 'execstream-bench',
  });
  // A fresh server per scenario, so its memory baseline holds no garbage of the one before.
  const measure = async (surface: Surface, executions: number, each: number, rounds: number) => {
    const { url, child } = await spawnBenchServer(redis.url);
    try {
      return await runScenario(url, streams, redis.port, surface, executions, each, rounds);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  };
  try {
    const results = {} as Record<Surface, { fanOut: Scenario; many: Scenario }>;
    for (const surface of SURFACES) {
      results[surface] = {
        fanOut: await measure(surface, 1, FAN_OUT_SUBSCRIBERS, FAN_OUT_EVENTS),
        many: await measure(surface, MANY_EXECUTIONS, 1, MANY_ROUNDS),
      };
    }
    return results;
  } finally {
    await streams.close();
  }
}

/** `pnpm bench http`: the server end to end over HTTP, raw SSE against tRPC. */
export async function runHttpSuite(): Promise<SuiteResult> {
  const results = await measureSurfaces();
  const measures: Measure[] = [];
  const row = (label: string, unit: string, pick: (surface: Surface) => number) =>
    measures.push({
      label,
      unit,
      values: Object.fromEntries(SURFACES.map((surface) => [surface, pick(surface)])),
    });
  for (const [key, name] of [
    ['fanOut', `1 execution × ${FAN_OUT_SUBSCRIBERS.toLocaleString('en-US')} subscribers`],
    ['many', `${MANY_EXECUTIONS.toLocaleString('en-US')} executions × 1 subscriber`],
  ] as const) {
    const sorted = (surface: Surface) => [...results[surface][key].latencies].sort((a, b) => a - b);
    row(`${name}, append-to-receive p50`, 'ms', (surface) => percentile(sorted(surface), 50));
    row(`${name}, append-to-receive p99`, 'ms', (surface) => percentile(sorted(surface), 99));
    row(
      `${name}, server CPU per 1,000 delivered events`,
      'CPU-s',
      (s) => results[s][key].cpuPerThousand,
    );
    row(`${name}, server memory per open stream`, 'KiB', (s) => results[s][key].memoryPerStream);
    row(
      `${name}, Redis connections held by the server`,
      'connections',
      (s) => results[s][key].connections,
    );
  }
  return {
    suite: 'http',
    title: 'Server over HTTP',
    columns: [...SURFACES],
    measures,
    notes: [
      'The server runs as deployed (its production build, `node dist/main.mjs`; its own Node.js process, on a local `redis-server` started by the benchmark); the benchmark process appends through the producer API on the same Redis and reads every stream over loopback HTTP, parsing each frame.',
      "`sse` is `GET /v1/executions/:id/stream`; `trpc` is `v2.executions.stream` over tRPC's SSE (the same bytes as `httpSubscriptionLink` reads).",
      `Fan-out: ${FAN_OUT_EVENTS} events, each appended once every subscriber had the previous one. Many executions: ${MANY_ROUNDS} rounds, one event per execution per round, appended concurrently.`,
      'Latency: from just before the append call to the reader parsing the event. The readers and the producer share 2 cores with the server, so latencies include their queueing.',
      "CPU: the server process's CPU seconds (`process_cpu_seconds_total`) over the scenario, opening the streams included, per 1,000 events it delivered. Memory: growth of its resident set while the streams opened, per stream, on a server started fresh for each scenario.",
      'Connections: `CLIENT LIST` entries named by the server (commands and API keys share one; pub/sub subscriber).',
    ],
  };
}
