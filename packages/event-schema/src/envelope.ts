import * as z from 'zod/mini';
import { CursorSchema } from './cursor.ts';
import { OperationIdSchema } from './ids.ts';
import {
  ErrorPayloadSchema,
  ExecutionSnapshotSchema,
  ProgressPayloadSchema,
  ResultPayloadSchema,
  StateChangedPayloadSchema,
  TimelineAppendedPayloadSchema,
} from './payloads.ts';
import { isTerminalStatus } from './status.ts';

/** Each kind and the payload it carries (CONTRACT §3). */
export const PAYLOAD_SCHEMAS = {
  'execution.state_changed': StateChangedPayloadSchema,
  'execution.timeline_appended': TimelineAppendedPayloadSchema,
  'execution.progress': ProgressPayloadSchema,
  'execution.result': ResultPayloadSchema,
  'execution.error': ErrorPayloadSchema,
  'execution.snapshot': ExecutionSnapshotSchema,
} as const;

export type EventKind = keyof typeof PAYLOAD_SCHEMAS;
export const EVENT_KINDS = Object.keys(PAYLOAD_SCHEMAS) as EventKind[];
export type PayloadOf<K extends EventKind> = z.infer<(typeof PAYLOAD_SCHEMAS)[K]>;

/** The kinds a producer appends. `execution.snapshot` is never stored: readers synthesise it. */
export type PersistedEventKind = Exclude<EventKind, 'execution.snapshot'>;

const envelopeFields = {
  streamId: z
    .string()
    .check(
      z.regex(/^execution:op_[A-Za-z0-9_-]{1,64}$/, 'streamId must be execution:<operationId>'),
    ),
  eventId: CursorSchema,
  sequence: z.int().check(z.minimum(1)),
  ts: z.iso.datetime(),
  operationId: OperationIdSchema,
  cursor: CursorSchema,
};

function envelopeOf<K extends EventKind>(kind: K) {
  return z.strictObject({
    ...envelopeFields,
    kind: z.literal(kind),
    payload: PAYLOAD_SCHEMAS[kind],
  });
}

export const EnvelopeSchema = z.discriminatedUnion('kind', [
  envelopeOf('execution.state_changed'),
  envelopeOf('execution.timeline_appended'),
  envelopeOf('execution.progress'),
  envelopeOf('execution.result'),
  envelopeOf('execution.error'),
  envelopeOf('execution.snapshot'),
]);

export type Envelope = z.infer<typeof EnvelopeSchema>;
export type EnvelopeOf<K extends EventKind> = Extract<Envelope, { kind: K }>;

function draftOf<K extends PersistedEventKind>(kind: K) {
  return z.strictObject({ kind: z.literal(kind), payload: PAYLOAD_SCHEMAS[kind] });
}

/** What a producer hands to `append`: a kind and its payload; the store assigns the rest. */
export const EventDraftSchema = z.discriminatedUnion('kind', [
  draftOf('execution.state_changed'),
  draftOf('execution.timeline_appended'),
  draftOf('execution.progress'),
  draftOf('execution.result'),
  draftOf('execution.error'),
]);
export type EventDraft = z.infer<typeof EventDraftSchema>;

/**
 * Builds an envelope with its keys in contract order (CONTRACT §2), whatever order the caller
 * wrote them in, so that `JSON.stringify` gives the same bytes on every surface.
 */
export function makeEnvelope<K extends EventKind>(fields: {
  streamId: string;
  cursor: string;
  sequence: number;
  ts: string;
  kind: K;
  operationId: string;
  payload: PayloadOf<K>;
}): EnvelopeOf<K> {
  return {
    streamId: fields.streamId,
    eventId: fields.cursor,
    sequence: fields.sequence,
    ts: fields.ts,
    kind: fields.kind,
    operationId: fields.operationId,
    cursor: fields.cursor,
    payload: fields.payload,
  } as unknown as EnvelopeOf<K>;
}

/** The one serialisation of an envelope: plain `JSON.stringify`, keys in contract order. */
export function serializeEnvelope(envelope: Envelope): string {
  return JSON.stringify(makeEnvelope(envelope));
}

const texts = new WeakMap<Envelope, string>();

/**
 * `serializeEnvelope(envelope)`, computed once per envelope object. A store that parsed the
 * envelope from its stored text hands that text over with `rememberEnvelopeText`, so a live
 * event is never parsed and serialised again; every reader in the process holds the same object
 * (the live hub parses a batch once for all its listeners) and shares the text. With
 * `remember` false, text not already known is made and not kept.
 */
export function envelopeText(envelope: Envelope, remember = true): string {
  let text = texts.get(envelope);
  if (text === undefined) {
    text = serializeEnvelope(envelope);
    // Not remembered for one who only measures it: the text lives as long as the envelope, and
    // an embedded store keeps its envelopes long after they were streamed, or never streamed.
    if (remember) texts.set(envelope, text);
  }
  return text;
}

/**
 * Records `text` as the serialisation of `envelope`, which was parsed from it. Only for text the
 * store wrote with `serializeEnvelope` (the same keys in the same order).
 */
export function rememberEnvelopeText<E extends Envelope>(envelope: E, text: string): E {
  texts.set(envelope, text);
  return envelope;
}

/**
 * The `execution.snapshot` envelope for a snapshot. Not persisted: its cursor, sequence and ts
 * are those of the last event it includes, so it stands in for every event up to there and is
 * itself a valid resume point (CONTRACT §3).
 */
export function snapshotEnvelope(
  snapshot: PayloadOf<'execution.snapshot'>,
): EnvelopeOf<'execution.snapshot'> {
  return makeEnvelope({
    streamId: `execution:${snapshot.operationId}`,
    cursor: snapshot.cursor,
    sequence: snapshot.sequence,
    ts: snapshot.updatedAt,
    kind: 'execution.snapshot',
    operationId: snapshot.operationId,
    payload: snapshot,
  });
}

/** The event that ends an execution's stream: its change to a terminal status. */
export function endsExecution(envelope: Envelope): boolean {
  return envelope.kind === 'execution.state_changed' && isTerminalStatus(envelope.payload.to);
}
