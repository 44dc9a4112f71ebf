import {
  type Envelope,
  foldExecution,
  initialSnapshot,
  makeEnvelope,
  snapshotEnvelope,
} from '@execstream/event-schema';
import { describe, expect, it } from 'vitest';
import { connectionOf, explorerTxUrl, follow, hydrate } from '../src/follow.ts';

const OP = 'op_follow';
const start = initialSnapshot({
  operationId: OP,
  type: 'swap',
  createdAt: '2026-01-01T00:00:00.000Z',
});

function event(sequence: number, kind: Envelope['kind'], payload: unknown): Envelope {
  return makeEnvelope({
    streamId: `execution:${OP}`,
    cursor: `${1_000 + sequence}-0`,
    sequence,
    ts: new Date(1_000 + sequence).toISOString(),
    kind,
    operationId: OP,
    payload: payload as never,
  });
}

const events: Envelope[] = [
  event(1, 'execution.state_changed', { from: null, to: 'accepted' }),
  event(2, 'execution.state_changed', { from: 'accepted', to: 'running' }),
  event(3, 'execution.timeline_appended', {
    message: 'Swap submitted',
    txHash: '0xab',
    chainId: 1,
  }),
  event(4, 'execution.progress', { percent: 50 }),
  event(5, 'execution.result', { output: { ok: true } }),
  event(6, 'execution.state_changed', { from: 'running', to: 'completed' }),
];

describe('the page follows an execution with the shared reducer', () => {
  it('a hydrated snapshot and the events after its cursor give the server’s snapshot', () => {
    const hydrated = foldExecution(start, events.slice(0, 2));
    const state = events.slice(2).reduce(follow, hydrate(hydrated));
    expect(state.snapshot).toEqual(foldExecution(start, events));
    expect(state).toMatchObject({ received: 4, resyncs: 0, repeats: 0, gaps: 0 });
  });

  it('a repeated event is dropped and counted, a skipped sequence counted', () => {
    const state = [events[2], events[2], events[4]]
      .map((envelope) => envelope as Envelope)
      .reduce(follow, hydrate(foldExecution(start, events.slice(0, 2))));
    expect(state.snapshot.timeline).toHaveLength(1);
    expect(state).toMatchObject({ received: 2, repeats: 1, gaps: 1 });
  });

  it('a snapshot mid-stream replaces the state and counts as a resync', () => {
    const head = foldExecution(start, events.slice(0, 5));
    const state = [snapshotEnvelope(head), events[5] as Envelope].reduce(
      follow,
      hydrate(foldExecution(start, events.slice(0, 1))),
    );
    expect(state.snapshot).toEqual(foldExecution(start, events));
    expect(state).toMatchObject({ resyncs: 1, repeats: 0, gaps: 0 });
  });
});

describe('what the page shows', () => {
  it('names the connection from the subscription’s status', () => {
    expect(connectionOf(false, 'pending', false)).toBe('live');
    expect(connectionOf(false, 'connecting', false)).toBe('connecting');
    expect(connectionOf(false, 'connecting', true)).toBe('reconnecting');
    expect(connectionOf(false, 'error', true)).toBe('failed');
    expect(connectionOf(true, 'connecting', true)).toBe('ended');
  });

  it('links a transaction to its chain’s explorer, and no link for an unknown chain', () => {
    expect(explorerTxUrl(1, '0xab')).toBe('https://etherscan.io/tx/0xab');
    expect(explorerTxUrl(42161, '0xab')).toBe('https://arbiscan.io/tx/0xab');
    expect(explorerTxUrl(8453, '0xab')).toBe('https://basescan.org/tx/0xab');
    expect(explorerTxUrl(10, '0xab')).toBe('https://optimistic.etherscan.io/tx/0xab');
    expect(explorerTxUrl(137, '0xab')).toBe('https://polygonscan.com/tx/0xab');
    expect(explorerTxUrl(999, '0xab')).toBeNull();
    expect(explorerTxUrl(undefined, '0xab')).toBeNull();
  });
});
