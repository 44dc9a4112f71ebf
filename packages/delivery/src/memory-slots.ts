import { createStreamSlot, type StreamSlot, type StreamSlots } from './slots.ts';

/**
 * Open-stream slots counted in this process: the count for the embedded store, where one process
 * is the whole deployment. Nothing to renew or expire: a slot lives exactly as long as the
 * delivery that holds it, and dies with the process.
 */
export class MemoryStreamSlots implements StreamSlots {
  readonly #held = new Map<string, number>();

  async acquire(ownerId: string, limit: number): Promise<StreamSlot | null> {
    const held = this.held(ownerId);
    if (held >= limit) return null;
    this.#held.set(ownerId, held + 1);
    return createStreamSlot(() => {
      const left = this.held(ownerId) - 1;
      // Owners without open streams take no memory.
      if (left > 0) this.#held.set(ownerId, left);
      else this.#held.delete(ownerId);
    });
  }

  /** Slots `ownerId` holds now. */
  held(ownerId: string): number {
    return this.#held.get(ownerId) ?? 0;
  }
}
