import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { createRedisExecutionStreams } from '@execstream/redis-store';
import { startRedisServer } from '@execstream/redis-testing';
import { ExecutionProducer, type ExecutionStreams } from '@execstream/stream-service';
import { type Measure, percentile, type SuiteResult } from './report.ts';
import { BENCH_KEY, BENCH_OWNER, spawnBenchServer } from './server.ts';

const EVENTS = 200;
const RATE_PER_SECOND = 100;
const ALL_SCENARIOS = [
  { surface: 'sse', readers: 1_000 },
  { surface: 'trpc', readers: 1_000 },
  { surface: 'sse', readers: 3_000 },
  { surface: 'trpc', readers: 3_000 },
] as const;
type Surface = (typeof ALL_SCENARIOS)[number]['surface'];

/** `EXECSTREAM_BENCH_FANOUT=sse:1000,trpc:1000` runs only those scenarios. */
const SCENARIOS = process.env.EXECSTREAM_BENCH_FANOUT
  ? ALL_SCENARIOS.filter(({ surface, readers }) =>
      process.env.EXECSTREAM_BENCH_FANOUT?.split(',').includes(`${surface}:${readers}`),
    )
  : ALL_SCENARIOS;

/** CPU (user, system) in ms and resident memory in KiB of a process, from /proc. */
async function processStats(pid: number): Promise<{ user: number; system: number; rss: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  // Fields 14 and 15 of stat (11 and 12 after the command), in clock ticks of 10 ms.
  return {
    user: Number(stat[11]) * 10,
    system: Number(stat[12]) * 10,
    rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]),
  };
}

/**
 * A reader on a raw socket, as a neutral load harness reads: it undoes the chunked encoding,
 * splits frames, and takes each event's top-level `sequence` (the envelope's third key, so the
 * first in the frame) without parsing the rest.
 */
class Reader {
  readonly sequences: number[] = [];
  readonly #socket: Socket;
  #raw: Buffer = Buffer.alloc(0);
  #body = '';
  #headersDone = false;
  #onEvent: (sequence: number) => void;

  constructor(port: number, path: string, onEvent: (sequence: number) => void) {
    this.#onEvent = onEvent;
    this.#socket = connect(port, '127.0.0.1');
    this.#socket.on('data', (chunk: Buffer) => this.#take(chunk));
    this.#socket.on('error', () => {});
    this.#socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: ${BENCH_KEY}\r\nAccept: text/event-stream\r\n\r\n`,
    );
  }

  close(): void {
    this.#socket.destroy();
  }

  #take(chunk: Buffer): void {
    this.#raw = this.#raw.length === 0 ? chunk : Buffer.concat([this.#raw, chunk]);
    if (!this.#headersDone) {
      const end = this.#raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      this.#headersDone = true;
      this.#raw = this.#raw.subarray(end + 4);
    }
    // Chunked encoding: `<hex size>\r\n<bytes>\r\n`; the server writes whole frames.
    for (;;) {
      const line = this.#raw.indexOf('\r\n');
      if (line === -1) return;
      const size = Number.parseInt(this.#raw.subarray(0, line).toString('latin1'), 16);
      const start = line + 2;
      if (this.#raw.length < start + size + 2) return;
      this.#frames(this.#raw.toString('utf8', start, start + size));
      this.#raw = this.#raw.subarray(start + size + 2);
    }
  }

  #frames(text: string): void {
    this.#body += text;
    for (;;) {
      const end = this.#body.indexOf('\n\n');
      if (end === -1) return;
      const frame = this.#body.slice(0, end);
      this.#body = this.#body.slice(end + 2);
      const at = frame.indexOf('"sequence":');
      if (at === -1) continue;
      const sequence = Number.parseInt(frame.slice(at + 11, at + 32), 10);
      this.sequences.push(sequence);
      this.#onEvent(sequence);
    }
  }
}

interface FanOutResult {
  latencies: number[];
  cpuPerThousand: number;
  userCpuPerThousand: number;
  deliveriesPerSecond: number;
  rssPerStream: number;
  complete: number;
}

async function runScenario(
  streams: ExecutionStreams,
  redisUrl: string,
  surface: Surface,
  readers: number,
): Promise<FanOutResult> {
  const { port, child } = await spawnBenchServer(redisUrl);
  const pid = child.pid as number;
  const open: Reader[] = [];
  try {
    const { record } = await streams.create({ ownerId: BENCH_OWNER, type: 'swap' });
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    await producer.start();
    const input = encodeURIComponent(JSON.stringify({ operationId: record.operationId }));
    const path =
      surface === 'sse'
        ? `/v1/executions/${record.operationId}/stream`
        : `/v1/trpc/v2.executions.stream?input=${input}`;
    const appended = new Map<number, number>();
    const latencies: number[] = [];
    let received = 0;
    let lastReceivedAt = 0;
    const onEvent = (sequence: number) => {
      received++;
      const at = appended.get(sequence);
      if (at !== undefined) {
        lastReceivedAt = performance.now();
        latencies.push(lastReceivedAt - at);
      }
    };
    const idle = await processStats(pid);
    // Open in waves, so the listen backlog is never the bottleneck being measured.
    for (let index = 0; index < readers; index++) {
      open.push(new Reader(port, path, onEvent));
      if (index % 200 === 199) await waitFor(() => received >= index - 50, 30_000);
    }
    await waitFor(() => received >= readers, 60_000);
    const opened = await processStats(pid);
    const firstSequence = 3;
    const start = performance.now();
    for (let index = 0; index < EVENTS; index++) {
      const due = start + (index * 1000) / RATE_PER_SECOND;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      appended.set(firstSequence + index, performance.now());
      await producer.progress(index % 100);
    }
    await waitFor(() => received >= readers * (EVENTS + 1), 120_000).catch(() => {});
    const done = await processStats(pid);
    const delivered = received - readers;
    const cpu = done.user + done.system - (opened.user + opened.system);
    const expected = Array.from({ length: EVENTS }, (_, index) => firstSequence + index);
    const complete = open.filter(
      (reader) => reader.sequences.slice(1).join(',') === expected.join(','),
    ).length;
    return {
      latencies: latencies.sort((a, b) => a - b),
      cpuPerThousand: (cpu / delivered) * 1000,
      userCpuPerThousand: ((done.user - opened.user) / delivered) * 1000,
      deliveriesPerSecond: delivered / ((lastReceivedAt - start) / 1000),
      rssPerStream: (opened.rss - idle.rss) / readers,
      complete,
    };
  } finally {
    for (const reader of open) reader.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * `pnpm bench fanout`: sustained fan-out of one execution to many readers at a fixed rate, read
 * the way the project's reference anchors measured Nchan and a bare Node broadcaster.
 */
export async function runFanOutSuite(): Promise<SuiteResult> {
  await using redis = await startRedisServer();
  const streams = await createRedisExecutionStreams({
    url: redis.url,
    connectionName: 'execstream-bench',
  });
  const results: Record<string, FanOutResult> = {};
  const columns: string[] = [];
  try {
    for (const { surface, readers } of SCENARIOS) {
      const column = `${surface} ×${readers.toLocaleString('en-US')}`;
      columns.push(column);
      console.log(`  ${column}…`);
      results[column] = await runScenario(streams, redis.url, surface, readers);
    }
  } finally {
    await streams.close();
  }
  const measures: Measure[] = [];
  const row = (label: string, unit: string, pick: (result: FanOutResult) => number) =>
    measures.push({
      label,
      unit,
      values: Object.fromEntries(
        columns.map((column) => [column, pick(results[column] as FanOutResult)]),
      ),
    });
  row('append-to-receive p50', 'ms', (r) => percentile(r.latencies, 50));
  row('append-to-receive p99', 'ms', (r) => percentile(r.latencies, 99));
  row('server CPU per 1,000 delivered, delivery only', 'ms', (r) => r.cpuPerThousand);
  row('of which user', 'ms', (r) => r.userCpuPerThousand);
  row('deliveries sustained', '/s', (r) => r.deliveriesPerSecond);
  row('server RSS per open stream', 'KiB', (r) => r.rssPerStream);
  row('readers that got every event once, in order', 'readers', (r) => r.complete);
  return {
    suite: 'fanout',
    title: 'Sustained fan-out (the anchors’ scenario)',
    columns,
    measures,
    notes: [
      `1 execution, ${EVENTS} events appended at ${RATE_PER_SECOND} events/s by a producer in the benchmark process (open loop: each append is due at its time whatever the readers do), through the producer API on a local \`redis-server\`; the server runs as \`pnpm start\` runs it, in its own process.`,
      'Readers are raw sockets in the benchmark process: each undoes the chunked encoding, splits frames and reads each event’s sequence; latency is from just before an append to a reader taking that event off the wire.',
      'CPU: the server process’s user + system time from /proc over the delivery phase alone (streams already open), per 1,000 events delivered. RSS: growth of its resident set while the streams opened, per stream.',
      'Readers, producer, Redis and the server share the 2 cores, as in the anchors’ runs; compare with their figures (Nchan 7.7 ms per 1,000 and 10.3 KiB per stream; a bare Node broadcaster 13.7 ms and 23.4 KiB).',
    ],
  };
}
