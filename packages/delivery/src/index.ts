export { getOwnedRecord } from './access.ts';
export {
  type Delivered,
  type Delivery,
  type OpenDeliveryOptions,
  openDelivery,
} from './delivery.ts';
export { TooManyStreamsError } from './errors.ts';
export { MemoryStreamSlots } from './memory-slots.ts';
export type { DeliveryObserver, Surface } from './observer.ts';
export { onShutdown } from './shutdown.ts';
export {
  createStreamSlot,
  DEFAULT_STREAM_RETRY_AFTER_SECONDS,
  type DeliverySlots,
  type StreamSlot,
  type StreamSlots,
} from './slots.ts';
