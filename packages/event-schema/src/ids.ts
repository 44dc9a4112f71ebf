import { monotonicFactory } from 'ulid';
import * as z from 'zod/mini';

/** CONTRACT §1: `op_` followed by 1 to 64 of `[A-Za-z0-9_-]`. */
export const OPERATION_ID_PATTERN = /^op_[A-Za-z0-9_-]{1,64}$/;

export const OperationIdSchema = z
  .string()
  .check(z.regex(OPERATION_ID_PATTERN, 'operationId must match op_[A-Za-z0-9_-]{1,64}'));
export type OperationId = z.infer<typeof OperationIdSchema>;

export function isOperationId(value: unknown): value is OperationId {
  return typeof value === 'string' && OPERATION_ID_PATTERN.test(value);
}

// Monotonic so that ids minted in the same millisecond still sort in creation order.
const nextUlid = /* @__PURE__ */ monotonicFactory();

/** A new operation id: `op_` + a ULID, e.g. `op_01JWZEE2MF30KVRMRX53N88VA4`. */
export function newOperationId(): OperationId {
  return `op_${nextUlid()}`;
}

/** CONTRACT §1: the stream id of an execution is `execution:<operationId>`. */
export function streamIdOf(operationId: OperationId): `execution:${string}` {
  return `execution:${operationId}`;
}
