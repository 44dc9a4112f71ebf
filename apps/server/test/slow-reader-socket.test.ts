import { readFileSync } from 'node:fs';
import { SseDecoder, type SseMessage } from '@execstream/event-schema';
import { startRedisServer } from '@execstream/redis-testing';
import { ExecutionProducer, type ExecutionStreams } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import { openRedisStores } from '../src/index.ts';
import { collectGarbage } from './support/gc.ts';
import { metric } from './support/metrics.ts';
import { spawnServer } from './support/process.ts';
import { OWNER_A, startServerOn } from './support/server.ts';
import { readSse } from './support/sse.ts';
import { trpcStreamUrl } from './support/trpc.ts';
import { stalledReader } from './support/wire.ts';

/**
 * A reader on a raw socket that takes the headers and a little, then never reads again, while a
 * producer appends 36 MB of live events of 60 KB each: far more than the kernel's buffers (the
 * reader's receive buffer does not grow while it reads nothing, the server's send buffer stops at
 * net.ipv4.tcp_wmem's 4 MB) and the backlog bound together. The server must cut that reader,
 * hold no more than the bound meanwhile, count it, and let it resume from the last event it got.
 */
const BOUND = 65_536;
const EVENTS = 600;
const BLOB = 'x'.repeat(60_000);
/** accepted, running, the timeline messages, then result and completed. */
const TOTAL = EVENTS + 4;

interface Backend {
  name: 'memory' | 'redis';
  /** What `memory()` measures, and why that is the server's memory. */
  measures: string;
  /**
   * How much that may grow while the reader is stalled, given the bytes the reader was sent. With
   * the bound lifted (1 GiB) the same run grew the heap by over 40 MB and the RSS by 70 to 80 MB,
   * the events the server could not send held serialised (and parsed, on Redis).
   */
  growthLimit(sent: number): number;
  start(): Promise<Setup>;
}

interface Setup extends AsyncDisposable {
  url: string;
  /** Where the producer appends: the server's own streams, or the same Redis. */
  streams: ExecutionStreams;
  /** The server's memory now, in bytes. */
  memory(): Promise<number> | number;
}

const env = { EXECSTREAM_MAX_BACKLOG_BYTES: String(BOUND) };

const BACKENDS: Backend[] = [
  {
    name: 'memory',
    // The embedded store lives in the server's process, so the server runs in this one, and its
    // heap is read after a full collection. The store keeps every event, but they all share
    // one 60 KB string: what the heap gains is what the server holds for the reader.
    measures: "this process's heap and external memory after a full GC, the server being in it",
    // The store keeps the events it holds, and with each (in WeakMaps keyed by the stored event)
    // its serialisation and its frame once a reader was sent it: twice the bytes sent (8 MB
    // here), and 1 to 2 MB besides.
    growthLimit: (sent) => 2 * sent + 8 * 1024 * 1024,
    async start() {
      const server = await startServerOn('memory', env);
      return {
        url: server.url,
        streams: server.streams,
        async memory() {
          // Buffers' memory goes back a turn after the collection that found them unreachable.
          collectGarbage();
          await new Promise((resolve) => setTimeout(resolve, 20));
          collectGarbage();
          const { heapUsed, external } = process.memoryUsage();
          return heapUsed + external;
        },
        [Symbol.asyncDispose]: () => server.close(),
      };
    },
  },
  {
    name: 'redis',
    // The server keeps nothing of the execution: all it holds is what passes through it.
    measures: 'the resident memory of the server, a process of its own',
    // 12 to 26 MB: the RSS shows the churn of 60 KB strings through V8's young generation too.
    growthLimit: () => 48 * 1024 * 1024,
    async start() {
      const redis = await startRedisServer();
      const server = await spawnServer({
        ...env,
        REDIS_URL: redis.url,
        PORT: '0',
        EXECSTREAM_DEMO: 'off',
        EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId}`,
      });
      const producerStores = await openRedisStores(redis.url, () => {});
      const status = `/proc/${server.child.pid}/status`;
      return {
        url: server.url,
        streams: producerStores.streams,
        memory: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(status, 'utf8'))?.[1]) * 1024,
        async [Symbol.asyncDispose]() {
          await producerStores.close();
          await server.kill('SIGKILL');
          await redis.stop();
        },
      };
    },
  },
];

interface Surface {
  name: 'sse' | 'trpc';
  /** The path and query of the stream of `operationId` after `cursor`. */
  path(operationId: string, cursor: string): string;
  /** Events, not tRPC's `connected`, `ping` and `return`. */
  isEvent(message: SseMessage): boolean;
}

const SURFACES: Surface[] = [
  {
    name: 'sse',
    path: (operationId, cursor) => `/v1/executions/${operationId}/stream?lastEventId=${cursor}`,
    isEvent: (message) => message.event.startsWith('execution.'),
  },
  {
    name: 'trpc',
    path(operationId, cursor) {
      const url = new URL(trpcStreamUrl('http://localhost', { operationId, lastEventId: cursor }));
      return `${url.pathname}${url.search}`;
    },
    isEvent: (message) => message.event === 'message',
  },
];

const sequenceOf = (message: SseMessage): number => JSON.parse(message.data).sequence;

/** A running execution of owner A, and the producer that appends to it. */
async function runningExecution(streams: ExecutionStreams) {
  const { record } = await streams.create({ ownerId: OWNER_A.ownerId, type: 'swap' });
  const producer = await ExecutionProducer.attach(streams, record.operationId);
  await producer.start();
  return { operationId: record.operationId, producer };
}

describe.each(BACKENDS)('a stalled raw-socket reader on $name', (backend) => {
  it.each(SURFACES)(
    'is cut at the bound on $name while the server stays flat, and resumes gapless',
    async (surface) => {
      await using setup = await backend.start();
      const { url } = setup;
      const { operationId, producer } = await runningExecution(setup.streams);

      // HTTP/1.0: the body comes without chunked framing, as plain SSE.
      using reader = await stalledReader(
        url,
        `GET ${surface.path(operationId, '0')} HTTP/1.0\r\nHost: localhost\r\nX-API-KEY: ${OWNER_A.key}\r\n\r\n`,
      );
      const before = await setup.memory();
      let peak = before;
      let maxBacklog = 0;
      for (let index = 0; index < EVENTS; index++) {
        await producer.timeline(`chunk ${index}`, { data: { blob: BLOB } });
        if (index % 50 === 0) peak = Math.max(peak, await setup.memory());
        if (index % 10 === 0) {
          maxBacklog = Math.max(
            maxBacklog,
            await metric(url, 'execstream_stream_backlog_bytes', surface.name),
          );
        }
      }
      await producer.complete({ chunks: EVENTS });
      peak = Math.max(peak, await setup.memory());
      console.log(
        `${backend.name}/${surface.name}: ${backend.measures}: ${mb(before)} MB before, peak ${mb(peak)} MB; backlog at most ${maxBacklog} bytes`,
      );

      // The server counted the slow reader, let go of its stream and its connection (the one
      // left is the metrics request), and never held more than the bound and one event for it.
      expect(await metric(url, 'execstream_slow_consumer_disconnects_total', surface.name)).toBe(1);
      await expect
        .poll(() => metric(url, 'execstream_http_connections_open'), { timeout: 10_000 })
        .toBe(1);
      expect(await metric(url, 'execstream_streams_active')).toBe(0);
      expect(await metric(url, 'execstream_stream_backlog_bytes')).toBe(0);
      expect(maxBacklog).toBeLessThanOrEqual(BOUND + BLOB.length + 1024);

      // The reader reads on: what the kernel held reaches it, then the end of a stream that was
      // cut (no terminal event).
      const { bytes, ending } = await reader.readRest();
      const text = bytes.toString('utf8');
      const received = new SseDecoder()
        .push(text.slice(text.indexOf('\r\n\r\n') + 4))
        .filter(surface.isEvent);
      console.log(
        `${backend.name}/${surface.name}: the stalled reader got ${received.length} whole events (${mb(bytes.length)} MB), then its connection was ${ending === 'end' ? 'closed' : 'reset'}`,
      );
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBeLessThan(TOTAL);
      expect(peak - before).toBeLessThan(backend.growthLimit(bytes.length));

      // A new reader from the last event the stalled one received whole gets every later event
      // once, to the end.
      const last = received.at(-1) as SseMessage;
      const resumed = await readSse(`${url}${surface.path(operationId, last.lastEventId)}`, {
        'X-API-KEY': OWNER_A.key,
      });
      const after = resumed.messages.filter(surface.isEvent);
      expect([...received, ...after].map(sequenceOf)).toEqual(
        Array.from({ length: TOTAL }, (_, index) => index + 1),
      );
    },
    60_000,
  );

  it.each(SURFACES)(
    'is not what a reader that reads is taken for, on $name, whatever the burst',
    async (surface) => {
      await using setup = await backend.start();
      const { url } = setup;
      const { operationId, producer } = await runningExecution(setup.streams);
      let opened: () => void = () => {};
      const isOpen = new Promise<void>((resolve) => {
        opened = resolve;
      });
      const reading = readSse(
        `${url}${surface.path(operationId, '0')}`,
        { 'X-API-KEY': OWNER_A.key },
        { onMessage: () => opened() },
      );
      // Appended back to back from the moment the stream answers, while the server subscribes:
      // 6 MB that reach the server's queue far faster than any transport takes them, a hundred
      // times the bound. A reader that reads takes every one.
      await isOpen;
      for (let index = 0; index < 100; index++) {
        await producer.timeline(`chunk ${index}`, { data: { blob: BLOB } });
      }
      await producer.complete({ chunks: 100 });
      const read = await reading;
      expect(read.messages.filter(surface.isEvent).map(sequenceOf)).toEqual(
        Array.from({ length: 104 }, (_, index) => index + 1),
      );
      expect(await metric(url, 'execstream_slow_consumer_disconnects_total')).toBe(0);
    },
    60_000,
  );
});

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
