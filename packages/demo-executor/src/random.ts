import { createHash } from 'node:crypto';

/**
 * A small deterministic generator (mulberry32) seeded from a string. Plans draw from it so that
 * the same execution always gets the same plan: a worker that takes over a run rebuilds exactly
 * the plan the first worker was following.
 */
export class SeededRandom {
  #state: number;

  constructor(seed: string) {
    this.#state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  integer(min: number, max: number): number {
    return Math.floor(this.between(min, max + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** A 32-byte hex transaction hash. */
  txHash(): string {
    let hex = '0x';
    while (hex.length < 66) hex += Math.floor(this.next() * 16).toString(16);
    return hex;
  }
}
