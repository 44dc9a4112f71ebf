import * as z from 'zod/mini';
import { ExecutionStatusSchema, ExecutionTypeSchema } from './status.ts';

// Payloads are strict: a key the contract does not name is an error, never silently stored,
// because every surface must emit byte-identical envelopes.
//
// zod's mini API (functions instead of methods): the same checks as the classic API, but a
// browser bundle of the SDK carries only the parts it uses (see packages/client's size test).

const JsonObjectSchema = z.record(z.string(), z.unknown());

/** An integer of at least `min` (a safe integer, as the classic `z.number().int()`). */
const intAtLeast = (min: number) => z.int().check(z.minimum(min));

export const StateChangedPayloadSchema = z.strictObject({
  from: z.nullable(ExecutionStatusSchema),
  to: ExecutionStatusSchema,
  reason: z.optional(z.string()),
});

export const TimelineLevelSchema = z.enum(['info', 'warn', 'error']);

export const TimelineAppendedPayloadSchema = z.strictObject({
  message: z.string().check(z.minLength(1, 'message must not be empty')),
  level: z.optional(TimelineLevelSchema),
  step: z.optional(z.string()),
  txHash: z.optional(z.string()),
  chainId: z.optional(z.int().check(z.positive())),
  data: z.optional(JsonObjectSchema),
});

export const ProgressPayloadSchema = z.strictObject({
  percent: z.number().check(z.minimum(0), z.maximum(100)),
  step: z.optional(z.string()),
  message: z.optional(z.string()),
});

export const ResultPayloadSchema = z.strictObject({
  output: JsonObjectSchema,
  summary: z.optional(z.string()),
});

export const ErrorPayloadSchema = z.strictObject({
  code: z.string().check(z.minLength(1, 'code must not be empty')),
  message: z.string(),
  retryable: z.boolean(),
  details: z.optional(JsonObjectSchema),
});

export const TimelineEntrySchema = z.strictObject({
  sequence: intAtLeast(1),
  ts: z.iso.datetime(),
  ...TimelineAppendedPayloadSchema.shape,
});

export const ExecutionSnapshotSchema = z.strictObject({
  operationId: z.string(),
  type: ExecutionTypeSchema,
  status: ExecutionStatusSchema,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  finishedAt: z.nullable(z.iso.datetime()),
  progress: z.nullable(ProgressPayloadSchema),
  timeline: z.array(TimelineEntrySchema),
  result: z.nullable(ResultPayloadSchema),
  error: z.nullable(ErrorPayloadSchema),
  sequence: intAtLeast(0),
  cursor: z.string(),
});

export type StateChangedPayload = z.infer<typeof StateChangedPayloadSchema>;
export type TimelineLevel = z.infer<typeof TimelineLevelSchema>;
export type TimelineAppendedPayload = z.infer<typeof TimelineAppendedPayloadSchema>;
export type ProgressPayload = z.infer<typeof ProgressPayloadSchema>;
export type ResultPayload = z.infer<typeof ResultPayloadSchema>;
export type ErrorPayload = z.infer<typeof ErrorPayloadSchema>;
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;
export type ExecutionSnapshot = z.infer<typeof ExecutionSnapshotSchema>;
