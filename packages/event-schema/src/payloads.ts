import { z } from 'zod';
import { ExecutionStatusSchema, ExecutionTypeSchema } from './status.ts';

// Payloads are strict: a key the contract does not name is an error, never silently stored,
// because every surface must emit byte-identical envelopes.

const JsonObjectSchema = z.record(z.string(), z.unknown());

export const StateChangedPayloadSchema = z.strictObject({
  from: ExecutionStatusSchema.nullable(),
  to: ExecutionStatusSchema,
  reason: z.string().optional(),
});

export const TimelineLevelSchema = z.enum(['info', 'warn', 'error']);

export const TimelineAppendedPayloadSchema = z.strictObject({
  message: z.string().min(1, 'message must not be empty'),
  level: TimelineLevelSchema.optional(),
  step: z.string().optional(),
  txHash: z.string().optional(),
  chainId: z.number().int().positive().optional(),
  data: JsonObjectSchema.optional(),
});

export const ProgressPayloadSchema = z.strictObject({
  percent: z.number().min(0).max(100),
  step: z.string().optional(),
  message: z.string().optional(),
});

export const ResultPayloadSchema = z.strictObject({
  output: JsonObjectSchema,
  summary: z.string().optional(),
});

export const ErrorPayloadSchema = z.strictObject({
  code: z.string().min(1, 'code must not be empty'),
  message: z.string(),
  retryable: z.boolean(),
  details: JsonObjectSchema.optional(),
});

export const TimelineEntrySchema = z.strictObject({
  sequence: z.number().int().min(1),
  ts: z.iso.datetime(),
  ...TimelineAppendedPayloadSchema.shape,
});

export const ExecutionSnapshotSchema = z.strictObject({
  operationId: z.string(),
  type: ExecutionTypeSchema,
  status: ExecutionStatusSchema,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
  progress: ProgressPayloadSchema.nullable(),
  timeline: z.array(TimelineEntrySchema),
  result: ResultPayloadSchema.nullable(),
  error: ErrorPayloadSchema.nullable(),
  sequence: z.number().int().min(0),
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
