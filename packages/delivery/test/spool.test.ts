import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  encodeSseFrame,
  type OperationId,
  SSE_PING_FRAME,
  SseDecoder,
} from '@execstream/event-schema';
import { createMemoryExecutionStreams, ExecutionProducer } from '@execstream/stream-service';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DeliveryObserver,
  frameCache,
  openResponseDelivery,
  resolveStreamOptions,
  runStreamSession,
  type StreamFraming,
  sharedFraming,
} from '../src/index.ts';

const OWNER = 'alice';

/**
 * A stream server on port 0: the raw route's framing, spooled, over the stream session. A reader
 * names itself in the query (`?reader=`), and `observerOf` gives it its own observer.
 */
async function streamServer(observerOf: (reader: string) => DeliveryObserver) {
  // A tail that holds the whole test, so a reader moved aside catches up without the store.
  const streams = createMemoryExecutionStreams({ tail: { maxEvents: 512, maxBytes: 1 << 28 } });
  const options = resolveStreamOptions({ streams, maxBacklogBytes: 1 << 30 });
  const frame = frameCache((envelope, data) =>
    encodeSseFrame({ id: envelope.cursor, event: envelope.kind, data }),
  );
  const framing: StreamFraming = {
    headers: { 'Content-Type': 'text/event-stream' },
    preamble: '',
    ping: SSE_PING_FRAME,
    frame,
    spool: sharedFraming(frame),
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const operationId = url.pathname.slice(1) as OperationId;
    const observer = observerOf(url.searchParams.get('reader') ?? '');
    const delivery = await openResponseDelivery(
      res,
      { ...options, observer },
      {
        ownerId: OWNER,
        operationId,
        cursor: null,
        surface: 'sse',
      },
    );
    await runStreamSession(res, delivery, framing, options);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return { streams, url: `http://127.0.0.1:${port}` };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Reads a stream's events as they come; `pause`/`resume` stop and restart reading the socket. */
function reader(url: string) {
  const decoder = new SseDecoder();
  const sequences: number[] = [];
  let response: IncomingMessage | null = null;
  const done = new Promise<number[]>((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      response = res;
      res.on('data', (chunk: Buffer) => {
        for (const message of decoder.push(chunk.toString('utf8'))) {
          if (message.event.startsWith('execution.')) {
            sequences.push(JSON.parse(message.data).sequence);
          }
        }
      });
      res.on('end', () => resolve(sequences));
      res.on('error', reject);
    }).on('error', reject);
  });
  return {
    sequences,
    done,
    pause: () => response?.pause(),
    resume: () => response?.resume(),
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('the spool', () => {
  it('moves a reader that stalls mid-broadcast aside; it catches up from the tail and rejoins, gapless', async () => {
    const counts = {
      steady: { spooled: 0, movedAside: 0 },
      stalling: { spooled: 0, movedAside: 0 },
    };
    const { streams, url } = await streamServer((name) => {
      const count = counts[name as keyof typeof counts];
      return { spooled: () => count.spooled++, movedAside: () => count.movedAside++ };
    });
    const { record } = await streams.create({ ownerId: OWNER, type: 'swap' });
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    await producer.start();

    const steady = reader(`${url}/${record.operationId}?reader=steady`);
    const stalling = reader(`${url}/${record.operationId}?reader=stalling`);
    // Each reader takes its snapshot by itself, then the next live event puts it in the spool.
    await until(
      () => steady.sequences.length === 1 && stalling.sequences.length === 1,
      'snapshots',
    );
    await producer.timeline('first live event');
    await until(
      () => counts.steady.spooled === 1 && counts.stalling.spooled === 1,
      'both readers in the spool',
    );

    // One reader stops reading while 256 KiB events are broadcast, each read by the other before
    // the next: far more than the socket buffers hold, so its socket fills in the middle of a
    // broadcast that goes on to the other, and it is moved aside.
    stalling.pause();
    const blob = 'x'.repeat(256 * 1024);
    for (let index = 0; index < 48; index++) {
      await producer.timeline(`big ${index}`, { data: { blob } });
      const sequence = (await streams.getSnapshot(record.operationId)).sequence;
      await until(() => steady.sequences.at(-1) === sequence, `the steady reader has ${sequence}`);
    }
    expect(counts.stalling.movedAside).toBeGreaterThan(0);
    expect(stalling.sequences.length).toBeLessThan(steady.sequences.length);
    const readsBefore = streams.storeReads();
    const rejoinsBefore = counts.stalling.spooled;

    // It reads again: it catches up from the tail (no store read) and joins the spool again.
    stalling.resume();
    await until(
      () => stalling.sequences.at(-1) === steady.sequences.at(-1),
      'the stalled reader caught up',
    );
    await producer.timeline('after the catch-up');
    await until(() => counts.stalling.spooled > rejoinsBefore, 'the reader rejoined the spool');
    await producer.timeline('written by the spool');
    await producer.complete({ ok: true });

    const last = (await streams.getSnapshot(record.operationId)).sequence;
    const everything = Array.from({ length: last - 1 }, (_, index) => index + 2);
    expect(await steady.done).toEqual(everything);
    expect(await stalling.done).toEqual(everything);
    expect(streams.storeReads()).toBe(readsBefore);
    await streams.close();
  });
});
