export { getOwnedRecord } from './access.ts';
export {
  type Delivered,
  type Delivery,
  type OpenDeliveryOptions,
  openDelivery,
} from './delivery.ts';
export type { DeliveryObserver, Surface } from './observer.ts';
export { onShutdown } from './shutdown.ts';
