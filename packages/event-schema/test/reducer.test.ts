import { describe, expect, it } from 'vitest';
import {
  type Envelope,
  type EventDraft,
  foldExecution,
  initialSnapshot,
  makeEnvelope,
  reduceExecution,
  snapshotEnvelope,
} from '../src/index.ts';

const base = initialSnapshot({
  operationId: 'op_r',
  type: 'swap',
  createdAt: '2026-01-01T00:00:00.000Z',
});

function envelopes(drafts: EventDraft[]): Envelope[] {
  return drafts.map(
    (draft, index) =>
      makeEnvelope({
        streamId: 'execution:op_r',
        cursor: `${1000 + index}-${index + 1}`,
        sequence: index + 1,
        ts: new Date(1000 + index).toISOString(),
        kind: draft.kind,
        operationId: 'op_r',
        payload: draft.payload,
      }) as Envelope,
  );
}

const run = envelopes([
  { kind: 'execution.state_changed', payload: { from: null, to: 'accepted' } },
  { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
  {
    kind: 'execution.timeline_appended',
    payload: { message: 'quote', step: 'quote', data: { px: 1 } },
  },
  { kind: 'execution.progress', payload: { percent: 30, step: 'approve' } },
  { kind: 'execution.error', payload: { code: 'RPC', message: 'timeout', retryable: true } },
  { kind: 'execution.state_changed', payload: { from: 'running', to: 'retrying' } },
  { kind: 'execution.state_changed', payload: { from: 'retrying', to: 'running' } },
  {
    kind: 'execution.timeline_appended',
    payload: { message: 'tx sent', txHash: '0x1', chainId: 10 },
  },
  { kind: 'execution.result', payload: { output: { amountOut: '2' }, summary: 'ok' } },
  { kind: 'execution.state_changed', payload: { from: 'running', to: 'completed' } },
]);

describe('reducer', () => {
  it('folds a whole run into the snapshot the contract describes', () => {
    const snapshot = foldExecution(base, run);
    expect(snapshot).toEqual({
      operationId: 'op_r',
      type: 'swap',
      status: 'completed',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: run[9]?.ts,
      finishedAt: run[9]?.ts,
      progress: { percent: 30, step: 'approve' },
      timeline: [
        { sequence: 3, ts: run[2]?.ts, message: 'quote', step: 'quote', data: { px: 1 } },
        { sequence: 8, ts: run[7]?.ts, message: 'tx sent', txHash: '0x1', chainId: 10 },
      ],
      result: { output: { amountOut: '2' }, summary: 'ok' },
      error: null,
      sequence: 10,
      cursor: run[9]?.cursor,
    });
  });

  it('equals reducing one event at a time, and never mutates its input', () => {
    const frozen = structuredClone(base);
    let stepwise = base;
    const seen: string[] = [];
    for (const envelope of run) {
      const before = JSON.stringify(stepwise);
      const next = reduceExecution(stepwise, envelope);
      expect(JSON.stringify(stepwise)).toBe(before);
      seen.push(JSON.stringify(next));
      stepwise = next;
    }
    expect(stepwise).toEqual(foldExecution(base, run));
    expect(base).toEqual(frozen);
    expect(new Set(seen).size).toBe(run.length);
  });

  it('keeps the last error while retrying and clears it when running again', () => {
    const retrying = foldExecution(base, run.slice(0, 6));
    expect(retrying).toMatchObject({ status: 'retrying', error: { code: 'RPC', retryable: true } });
    expect(foldExecution(base, run.slice(0, 7)).error).toBeNull();
  });

  it('adopts a snapshot envelope whole: hydrate at any point, then fold the rest', () => {
    for (let split = 1; split < run.length; split++) {
      const hydrated = snapshotEnvelope(foldExecution(base, run.slice(0, split)));
      const client = foldExecution(
        initialSnapshot({ operationId: 'op_x', type: 'bridge', createdAt: 'x' }),
        [hydrated, ...run.slice(split)],
      );
      expect(client).toEqual(foldExecution(base, run));
    }
  });
});
