/**
 * Open streams per principal (CONTRACT §8), counted across every surface (raw SSE, tRPC, AG-UI)
 * because each of them opens its streams through `openDelivery`. A store of slots counts them:
 * in this process for the embedded store, in Redis across every instance that shares it.
 */

import type { StreamSlots } from '@execstream/stream-service';

export {
  createStreamSlot,
  type StreamSlot,
  type StreamSlots,
} from '@execstream/stream-service';

/** The `slots` option of `openDelivery`: where slots are counted and how many an owner gets. */
export interface DeliverySlots {
  store: StreamSlots;
  /** Streams one owner may hold open at once, over every surface and instance. */
  limit: number;
  /**
   * The `Retry-After` of a refusal. A slot frees when one of the owner's streams ends, which no
   * one can predict; the hint keeps a client from reconnecting in a tight loop meanwhile.
   * @default 10
   */
  retryAfterSeconds?: number;
}

export const DEFAULT_STREAM_RETRY_AFTER_SECONDS = 10;
