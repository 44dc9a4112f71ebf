import type { Envelope, OperationId } from '@execstream/event-schema';
import {
  createMemoryExecutionStreams,
  type ExecutionStreams,
  type ExecutionSubscription,
} from '@execstream/stream-service';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Delivered,
  type Delivery,
  MemoryStreamSlots,
  type OpenDeliveryOptions,
  openDelivery,
  type StreamSlot,
  type StreamSlots,
  TooManyStreamsError,
} from '../src/index.ts';

const OWNER = 'alice';
const LIMIT = 2;

/** Memory slots that count every `release` call, so a second release would show. */
class CountedSlots implements StreamSlots {
  readonly memory = new MemoryStreamSlots();
  readonly releaseCalls: number[] = [];

  async acquire(ownerId: string, limit: number): Promise<StreamSlot | null> {
    const slot = await this.memory.acquire(ownerId, limit);
    if (!slot) return null;
    const index = this.releaseCalls.push(0) - 1;
    const release = () => {
      this.releaseCalls[index] = (this.releaseCalls[index] ?? 0) + 1;
      return slot.release();
    };
    return { release, [Symbol.asyncDispose]: release };
  }

  get held(): number {
    return this.memory.held(OWNER);
  }
}

let streams: ExecutionStreams;
let slots: CountedSlots;

afterEach(async () => {
  // Whatever the path, every slot taken was given back exactly once.
  expect(slots.held).toBe(0);
  expect(slots.releaseCalls.every((calls) => calls === 1)).toBe(true);
  await streams.close();
});

function setUp() {
  streams = createMemoryExecutionStreams();
  slots = new CountedSlots();
}

async function running(): Promise<OperationId> {
  const { record } = await streams.create({ ownerId: OWNER, type: 'swap' });
  await streams.append(record.operationId, [
    { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
  ]);
  return record.operationId;
}

function complete(operationId: OperationId) {
  return streams.append(operationId, [
    { kind: 'execution.result', payload: { output: { ok: true } } },
    { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
  ]);
}

function open(operationId: OperationId, options: Partial<OpenDeliveryOptions> = {}) {
  return openDelivery({
    streams,
    ownerId: OWNER,
    operationId,
    cursor: null,
    signal: new AbortController().signal,
    surface: 'sse',
    maxBacklogBytes: 1_048_576,
    onOverflow: () => {},
    slots: { store: slots, limit: LIMIT, retryAfterSeconds: 7 },
    ...options,
  });
}

async function readAll(delivery: Delivery): Promise<Delivered[]> {
  const read: Delivered[] = [];
  for await (const delivered of delivery) read.push(delivered);
  return read;
}

describe('a delivery holds a stream slot', () => {
  it('from open until the stream ends at its terminal event', async () => {
    setUp();
    const operationId = await running();
    const delivery = await open(operationId);
    expect(slots.held).toBe(1);
    const read = readAll(delivery);
    await complete(operationId);
    expect((await read).at(-1)?.envelope.kind).toBe('execution.state_changed');
    expect(slots.held).toBe(0);
  });

  // The transport may never read a delivery (a client gone before the first byte): each way of
  // ending it must free the slot whether it was read or not.
  const endings: Record<string, (delivery: Delivery, request: AbortController) => void> = {
    'it is closed': (delivery) => delivery.close(),
    'its signal aborts': (_, request) => request.abort(),
  };
  for (const [how, end] of Object.entries(endings)) {
    it(`until ${how}, read or not`, async () => {
      setUp();
      const operationId = await running();
      const request = async () => {
        const controller = new AbortController();
        return {
          request: controller,
          delivery: await open(operationId, { signal: controller.signal }),
        };
      };
      const unread = await request();
      const reading = await request();
      const read = readAll(reading.delivery);
      expect(slots.held).toBe(2);
      end(unread.delivery, unread.request);
      expect(slots.held).toBe(1);
      end(reading.delivery, reading.request);
      await read;
      expect(slots.held).toBe(0);
    });
  }

  it('until its reader is disconnected for falling behind the live tail', async () => {
    setUp();
    const operationId = await running();
    let overflowed = false;
    const delivery = await open(operationId, {
      maxBacklogBytes: 2_000,
      onOverflow: () => {
        overflowed = true;
      },
    });
    const iterator = delivery[Symbol.asyncIterator]();
    await iterator.next(); // the snapshot; then the reader stops reading
    for (let index = 0; index < 20 && !overflowed; index++) {
      await streams.append(operationId, [
        { kind: 'execution.timeline_appended', payload: { message: 'x'.repeat(500) } },
      ]);
      // A turn of the event loop, in which a reader that reads would have taken the events.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(overflowed).toBe(true);
    expect(slots.held).toBe(0);
    await iterator.return?.();
  });

  it('not at all when the signal aborted before the delivery opened', async () => {
    setUp();
    const operationId = await running();
    const gone = new AbortController();
    gone.abort();
    await open(operationId, { signal: gone.signal });
    expect(slots.held).toBe(0);
  });

  it('until the subscription fails while it is read', async () => {
    setUp();
    const operationId = await running();
    const failing = new Error('the store broke mid-read');
    const broken: ExecutionStreams = {
      ...streams,
      subscribe: async () => failingSubscription(failing),
    };
    const delivery = await open(operationId, { streams: broken });
    expect(slots.held).toBe(1);
    await expect(readAll(delivery)).rejects.toBe(failing);
  });

  it('and gives it back when subscribing throws (an unknown execution)', async () => {
    setUp();
    await expect(open('op_01JWZEE2MF30KVRMRX53N88VA4' as OperationId)).rejects.toMatchObject({
      code: 'EXECUTION_NOT_FOUND',
    });
    expect(slots.releaseCalls).toEqual([1]);
    expect(slots.held).toBe(0);
  });

  it('never takes one for a malformed cursor: refused before the slot, whatever the owner holds', async () => {
    setUp();
    const operationId = await running();
    const held = [await open(operationId), await open(operationId)];
    await expect(open(operationId, { cursor: 'not-a-cursor' })).rejects.toMatchObject({
      code: 'CURSOR_INVALID',
    });
    expect(slots.releaseCalls).toEqual([0, 0]);
    for (const delivery of held) delivery.close();
  });

  it('and gives it back at once when there is nothing to send (the SSE 204)', async () => {
    setUp();
    const operationId = await running();
    const [, last] = await complete(operationId);
    const delivery = await open(operationId, { cursor: last?.cursor ?? null });
    expect(delivery.nothingToSend).toBe(true);
    // The SSE route answers 204 without reading or closing the delivery.
    expect(slots.held).toBe(0);
  });
});

describe('a principal at its limit of open streams', () => {
  it('is refused with TOO_MANY_STREAMS and its Retry-After, until one of its streams ends', async () => {
    setUp();
    const operationId = await running();
    const first = await open(operationId);
    const second = await open(operationId);
    const refusal = await open(operationId).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(TooManyStreamsError);
    expect(refusal).toMatchObject({ code: 'TOO_MANY_STREAMS', limit: 2, retryAfterSeconds: 7 });
    first.close();
    const third = await open(operationId);
    second.close();
    third.close();
  });

  it('gets 404 for an execution it does not own and keeps no slot for it; at the limit, 429 for any', async () => {
    setUp();
    const { record } = await streams.create({ ownerId: 'mallory', type: 'swap' });
    const operationId = await running();
    const held = [await open(operationId), await open(operationId)];
    // At the limit the slot is refused before any read: unknown, foreign and own alike, so the
    // answer tells nothing about the execution.
    await expect(open(record.operationId)).rejects.toBeInstanceOf(TooManyStreamsError);
    await expect(open('op_01JWZEE2MF30KVRMRX53N88VA4')).rejects.toBeInstanceOf(TooManyStreamsError);
    for (const delivery of held) delivery.close();
    await expect(open(record.operationId)).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND' });
    // The two held, and the one taken for the 404 and given back with it.
    expect(slots.releaseCalls).toHaveLength(3);
    expect(slots.held).toBe(0);
  });

  it('counts the streams of every surface together', async () => {
    setUp();
    const operationId = await running();
    const sse = await open(operationId, { surface: 'sse' });
    const trpc = await open(operationId, { surface: 'trpc' });
    await expect(open(operationId, { surface: 'sse' })).rejects.toBeInstanceOf(TooManyStreamsError);
    sse.close();
    trpc.close();
  });
});

/** A subscription that yields nothing and then fails, as a store that breaks mid-read would. */
function failingSubscription(error: Error): ExecutionSubscription {
  return {
    nothingToSend: false,
    headSequence: 0,
    lastSequence: 0,
    lastCursor: '0-0',
    atLiveEdge: false,
    close: () => {},
    nextBatch: () => Promise.reject(error),
    detach: () => false,
    resumeAfter: () => {},
    finish: () => {},
    // biome-ignore lint/correctness/useYield: it fails before its first event
    async *[Symbol.asyncIterator](): AsyncGenerator<Envelope> {
      throw error;
    },
  };
}
