import { describe, expect, it } from 'vitest';
import { MemoryStreamSlots } from '../src/index.ts';

describe('MemoryStreamSlots', () => {
  it('hands out at most `limit` slots per owner, and none past it', async () => {
    const slots = new MemoryStreamSlots();
    expect(await slots.acquire('alice', 2)).not.toBeNull();
    expect(await slots.acquire('alice', 2)).not.toBeNull();
    expect(await slots.acquire('alice', 2)).toBeNull();
    expect(slots.held('alice')).toBe(2);
    // Another owner's count is its own.
    expect(await slots.acquire('bob', 2)).not.toBeNull();
    expect(slots.held('bob')).toBe(1);
  });

  it('makes a released slot available again, once however often it is released', async () => {
    const slots = new MemoryStreamSlots();
    const first = await slots.acquire('alice', 2);
    const second = await slots.acquire('alice', 2);
    await first?.release();
    await first?.release();
    await first?.[Symbol.asyncDispose]();
    expect(slots.held('alice')).toBe(1);
    const third = await slots.acquire('alice', 2);
    expect(third).not.toBeNull();
    expect(await slots.acquire('alice', 2)).toBeNull();
    await second?.release();
    await third?.release();
    expect(slots.held('alice')).toBe(0);
  });

  it('releases a slot held with `await using` when the scope ends', async () => {
    const slots = new MemoryStreamSlots();
    {
      await using slot = await slots.acquire('alice', 1);
      expect(slot).not.toBeNull();
      expect(slots.held('alice')).toBe(1);
    }
    expect(slots.held('alice')).toBe(0);
  });
});
