export { getOwnedRecord } from './access.ts';
export {
  type Delivered,
  type Delivery,
  type OpenDeliveryOptions,
  openDelivery,
} from './delivery.ts';
export { TooManyStreamsError } from './errors.ts';
export type { DeliveryObserver, Surface } from './observer.ts';
