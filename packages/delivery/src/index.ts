export { getOwnedRecord } from './access.ts';
export { type ClockedStream, offClock, onClock } from './clock.ts';
export {
  type Delivered,
  type Delivery,
  type OpenDeliveryOptions,
  openDelivery,
} from './delivery.ts';
export { frameCache } from './encode.ts';
export { TooManyStreamsError } from './errors.ts';
export { resetUnlessFinished } from './finish.ts';
export * from './http-error.ts';
export { MemoryStreamSlots } from './memory-slots.ts';
export type { DeliveryObserver, Surface } from './observer.ts';
export { runStreamSession, type StreamFraming, type StreamSessionOptions } from './session.ts';
export { onShutdown } from './shutdown.ts';
export {
  createStreamSlot,
  DEFAULT_STREAM_RETRY_AFTER_SECONDS,
  type DeliverySlots,
  type StreamSlot,
  type StreamSlots,
} from './slots.ts';
export {
  type SharedFrames,
  type SpoolFraming,
  sharedFraming,
} from './spool.ts';
export {
  endForRetry,
  lastEventIdOf,
  operationPathPattern,
  parseStreamTarget,
  refuseStream,
  SSE_HEADERS,
  type StreamTarget,
} from './stream-http.ts';
export {
  checkPingInterval,
  type EventStreamOptions,
  MAX_PING_INTERVAL_MS,
  openResponseDelivery,
  type ResolvedStreamOptions,
  resolveStreamOptions,
  STREAM_DEFAULTS,
  type StreamOptions,
} from './stream-options.ts';
export { drained } from './timers.ts';
