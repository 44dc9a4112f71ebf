export { MAX_BATCH_SIZE, parseDrafts, prepareBatch } from './batch.ts';
export { type CancelOptions, cancelExecution } from './cancel.ts';
export * from './errors.ts';
export { TAIL_DEFAULTS } from './live-feed.ts';
export * from './memory/index.ts';
export { ExecutionProducer } from './producer.ts';
export { IDEMPOTENCY_TTL_MS, PRODUCER_LIMITS } from './producer-api.ts';
export {
  createStreamService,
  HISTORY_LIMIT,
  LIST_LIMIT,
  parseResumeCursor,
} from './service.ts';
export { createStreamSlot, type StreamSlot, type StreamSlots } from './stream-slots.ts';
export * from './types.ts';
