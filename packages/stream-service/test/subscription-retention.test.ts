import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createStreamService, ExecutionProducer, MemoryBackend } from '../src/index.ts';

// A real collection, to see what an open subscription still references.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let attempt = 0; attempt < 10 && ref.deref() !== undefined; attempt++) {
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
  }
  return ref.deref() === undefined;
}

describe('LiveSubscription', () => {
  it('lets its opening snapshot go once handed out, while the stream stays open', async () => {
    await using streams = createStreamService(new MemoryBackend());
    const { record } = await streams.create({ ownerId: 'w', type: 'swap' });
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    await producer.start();
    const subscription = await streams.subscribe(record.operationId);

    let first = await subscription.nextBatch();
    expect(first?.map((envelope) => envelope.kind)).toEqual(['execution.snapshot']);
    const snapshot = new WeakRef(first?.[0]?.payload as object);
    first = null;
    const waiting = subscription.nextBatch(); // at the live edge, open

    expect(await collected(snapshot)).toBe(true);
    expect(streams.stats().subscriptions).toBe(1);
    await producer.timeline('still live');
    expect((await waiting)?.map((envelope) => envelope.kind)).toEqual([
      'execution.timeline_appended',
    ]);
    subscription.close();
  });

  it('holds no waiting read while detached: the read returns empty, and reads on after resumeAfter', async () => {
    await using streams = createStreamService(new MemoryBackend());
    const { record } = await streams.create({ ownerId: 'w', type: 'swap' });
    const producer = await ExecutionProducer.attach(streams, record.operationId);
    await producer.start();
    const subscription = await streams.subscribe(record.operationId);
    await subscription.nextBatch(); // the snapshot
    const waiting = subscription.nextBatch();
    await new Promise((resolve) => setImmediate(resolve));
    expect(subscription.atLiveEdge).toBe(true);

    expect(subscription.detach()).toBe(true);
    expect(await waiting).toEqual([]);
    expect(await subscription.nextBatch()).toEqual([]);
    const last = { sequence: subscription.lastSequence, cursor: subscription.lastCursor };
    await producer.timeline('while detached');
    expect(streams.stats().listeners).toBe(0);

    subscription.resumeAfter(last);
    expect((await subscription.nextBatch())?.map((envelope) => envelope.kind)).toEqual([
      'execution.timeline_appended',
    ]);
    subscription.close();
  });
});
