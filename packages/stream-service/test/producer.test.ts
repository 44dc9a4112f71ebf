import { describe, expect, it } from 'vitest';
import {
  type CommitOutcome,
  createStreamService,
  ExecutionProducer,
  ExecutionTerminalError,
  MemoryBackend,
  StoreUnavailableError,
} from '../src/index.ts';

/**
 * The real memory backend behind a connection that fails the next commits: either before the
 * store sees them, or after it stored them (the reply was lost, as when Redis dies mid-call).
 */
class FlakyConnection extends MemoryBackend {
  failures: Array<'before' | 'after'> = [];
  /** Reads to fail before the store sees them. */
  readFailures = 0;

  override async readAfter(...args: Parameters<MemoryBackend['readAfter']>) {
    if (this.readFailures > 0) {
      this.readFailures--;
      throw new StoreUnavailableError('connection refused');
    }
    return super.readAfter(...args);
  }

  override async commit(...args: Parameters<MemoryBackend['commit']>): Promise<CommitOutcome> {
    const failure = this.failures.shift();
    if (failure === 'before') throw new StoreUnavailableError('connection refused');
    const outcome = await super.commit(...args);
    if (failure === 'after') throw new StoreUnavailableError('connection reset before the reply');
    return outcome;
  }
}

async function setUp() {
  const backend = new FlakyConnection();
  const streams = createStreamService(backend);
  const { record } = await streams.create({ ownerId: 'w', type: 'swap' });
  const producer = await ExecutionProducer.attach(streams, record.operationId, { retryDelayMs: 1 });
  const kinds = async () =>
    (await streams.readHistory(record.operationId)).events.map((event) => [
      event.sequence,
      event.kind,
    ]);
  return { backend, streams, producer, kinds, [Symbol.asyncDispose]: () => streams.close() };
}

describe('ExecutionProducer', () => {
  it('lands a batch exactly once when the reply to a stored append was lost', async () => {
    await using setup = await setUp();
    setup.backend.failures = ['after', 'after'];
    const landed = await setup.producer.start();
    expect(landed.map((event) => event.sequence)).toEqual([2]);
    await setup.producer.timeline('once');
    expect(await setup.kinds()).toEqual([
      [1, 'execution.state_changed'],
      [2, 'execution.state_changed'],
      [3, 'execution.timeline_appended'],
    ]);
    expect(setup.producer.sequence).toBe(3);
  });

  it('keeps retrying while the store is still down when it checks whether a batch landed', async () => {
    await using setup = await setUp();
    setup.backend.failures = ['after'];
    setup.backend.readFailures = 2;
    await setup.producer.start();
    expect(setup.backend.readFailures).toBe(0);
    expect(await setup.kinds()).toEqual([
      [1, 'execution.state_changed'],
      [2, 'execution.state_changed'],
    ]);
  });

  it('retries an append that never reached the store', async () => {
    await using setup = await setUp();
    setup.backend.failures = ['before', 'before'];
    await setup.producer.start();
    expect(setup.producer.status).toBe('running');
    expect((await setup.kinds()).length).toBe(2);
  });

  it('gives up after maxAttempts with the typed error, having stored nothing', async () => {
    await using setup = await setUp();
    setup.backend.failures = Array(5).fill('before');
    await expect(setup.producer.start()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await setup.kinds()).length).toBe(1);
  });

  it('rebuilds its batch after a concurrent writer, and stops at a terminal status', async () => {
    await using setup = await setUp();
    await setup.producer.start();
    const other = await ExecutionProducer.attach(setup.streams, setup.producer.operationId);
    await other.awaitUser('signature needed');
    // Our view says running; the producer re-reads and sends awaiting_user -> running.
    await setup.producer.start('signed');
    expect(setup.producer.status).toBe('running');
    await other.timeline('user cancelled from another tab').then(() => other.cancel('user'));
    await expect(setup.producer.progress(50)).rejects.toBeInstanceOf(ExecutionTerminalError);
    expect(setup.producer.status).toBe('cancelled');
  });
});
