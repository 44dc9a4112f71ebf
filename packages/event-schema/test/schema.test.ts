import { describe, expect, it } from 'vitest';
import {
  EnvelopeSchema,
  EventDraftSchema,
  ExecutionSnapshotSchema,
  foldExecution,
  initialSnapshot,
  makeEnvelope,
  newOperationId,
  OperationIdSchema,
  serializeEnvelope,
  snapshotEnvelope,
  streamIdOf,
} from '../src/index.ts';

describe('schemas', () => {
  it('validates operation ids per CONTRACT §1', () => {
    expect(OperationIdSchema.safeParse('op_123').success).toBe(true);
    expect(OperationIdSchema.safeParse(`op_${'a'.repeat(64)}`).success).toBe(true);
    for (const bad of ['op_', 'op_a b', `op_${'a'.repeat(65)}`, 'xx_1', 'op_é', 'op_1/2']) {
      expect(OperationIdSchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(newOperationId()).toMatch(/^op_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(streamIdOf('op_1')).toBe('execution:op_1');
  });

  it('names the offending field when a payload is invalid', () => {
    const result = EventDraftSchema.safeParse({
      kind: 'execution.error',
      payload: { code: 'X', message: 'm', retryable: 'yes' },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['payload', 'retryable']);
    const unknownKey = EventDraftSchema.safeParse({
      kind: 'execution.progress',
      payload: { percent: 1, colour: 'red' },
    });
    expect(unknownKey.error?.issues[0]).toMatchObject({
      code: 'unrecognized_keys',
      keys: ['colour'],
    });
    const badKind = EventDraftSchema.safeParse({ kind: 'execution.nope', payload: {} });
    expect(badKind.error?.issues[0]?.path).toEqual(['kind']);
  });

  it('serialises envelopes with contract key order whatever order they were built in', () => {
    const shuffled = {
      payload: { message: 'Swap submitted onchain' },
      cursor: '1743163201000-0',
      operationId: 'op_123',
      kind: 'execution.timeline_appended' as const,
      ts: '2026-03-28T15:10:00.000Z',
      sequence: 17,
      eventId: '1743163201000-0',
      streamId: 'execution:op_123',
    };
    expect(serializeEnvelope(EnvelopeSchema.parse(shuffled))).toBe(
      '{"streamId":"execution:op_123","eventId":"1743163201000-0","sequence":17,"ts":"2026-03-28T15:10:00.000Z","kind":"execution.timeline_appended","operationId":"op_123","cursor":"1743163201000-0","payload":{"message":"Swap submitted onchain"}}',
    );
    expect(EnvelopeSchema.safeParse({ ...shuffled, extra: true }).success).toBe(false);
    expect(EnvelopeSchema.safeParse({ ...shuffled, sequence: 0 }).success).toBe(false);
  });

  it('checks every bound of the contract (the mini API checks what the classic one did)', () => {
    const envelope = {
      streamId: 'execution:op_1',
      eventId: '5-1',
      sequence: 1,
      ts: '2026-01-01T00:00:00.005Z',
      kind: 'execution.progress',
      operationId: 'op_1',
      cursor: '5-1',
      payload: { percent: 50 },
    };
    expect(EnvelopeSchema.safeParse(envelope).success).toBe(true);
    const bad: Record<string, unknown>[] = [
      { sequence: 1.5 },
      { sequence: Number.MAX_SAFE_INTEGER + 2 },
      { ts: '2026-01-01 00:00:00' },
      { cursor: '5-x' },
      { cursor: '99999999999999999999-0' },
      { streamId: 'execution:op_1 ' },
      { payload: { percent: 100.5 } },
      { payload: { percent: -1 } },
      { payload: { percent: 5, colour: 'red' } },
      { kind: 'execution.timeline_appended', payload: { message: '' } },
      { kind: 'execution.timeline_appended', payload: { message: 'm', chainId: 0 } },
      { kind: 'execution.timeline_appended', payload: { message: 'm', level: 'debug' } },
      { kind: 'execution.error', payload: { code: '', message: 'm', retryable: false } },
      { kind: 'execution.state_changed', payload: { from: null, to: 'paused' } },
    ];
    for (const change of bad) {
      expect(
        EnvelopeSchema.safeParse({ ...envelope, ...change }).success,
        JSON.stringify(change),
      ).toBe(false);
    }
  });

  it('makes a snapshot envelope that stands at its last event', () => {
    const first = makeEnvelope({
      streamId: 'execution:op_1',
      cursor: '5-1',
      sequence: 1,
      ts: '2026-01-01T00:00:00.005Z',
      kind: 'execution.state_changed',
      operationId: 'op_1',
      payload: { from: null, to: 'accepted' },
    });
    const snapshot = foldExecution(
      initialSnapshot({ operationId: 'op_1', type: 'swap', createdAt: first.ts }),
      [first],
    );
    expect(ExecutionSnapshotSchema.parse(snapshot)).toEqual(snapshot);
    const envelope = snapshotEnvelope(snapshot);
    expect(envelope).toMatchObject({
      kind: 'execution.snapshot',
      cursor: '5-1',
      eventId: '5-1',
      sequence: 1,
    });
    expect(EnvelopeSchema.parse(envelope)).toEqual(envelope);
  });
});
