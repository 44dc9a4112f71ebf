import { StoreUnavailableError } from '@execstream/stream-service';
import { describe, expect, it } from 'vitest';
import {
  connectRedis,
  RedisKeys,
  RedisStreamSlots,
  type RedisStreamSlotsOptions,
  waitUntilReady,
} from '../src/index.ts';
import { eventually, uniquePrefix } from './support.ts';

/**
 * The behaviour of `RedisStreamSlots`, run against a single server and against a cluster. Each
 * "instance" is what one server process holds: its own command connection and its own slots.
 */
export function describeStreamSlots(where: string, urlOf: () => Promise<string>) {
  async function instance(keyPrefix: string, options: RedisStreamSlotsOptions = {}) {
    const client = connectRedis(await urlOf(), { connectionName: 'stream-slots' });
    client.on('error', () => {});
    await waitUntilReady(client, 20_000);
    const errors: unknown[] = [];
    const slots = new RedisStreamSlots(client, {
      keyPrefix,
      onError: (error) => errors.push(error),
      ...options,
    });
    const keys = new RedisKeys(keyPrefix);
    return {
      client,
      slots,
      errors,
      keys,
      /** Slot ids stored for an owner, read over this instance's connection. */
      stored: (ownerId: string) => client.zrange(keys.streamSlots(ownerId), 0, -1),
      async [Symbol.asyncDispose]() {
        await slots.close();
        client.disconnect();
      },
    };
  }

  describe(`open-stream slots on ${where}`, () => {
    it('hands out at most `limit` slots per owner, and reuses released ones', async () => {
      await using one = await instance(uniquePrefix());
      const first = await one.slots.acquire('alice', 2);
      const second = await one.slots.acquire('alice', 2);
      expect(first).not.toBeNull();
      expect(second).not.toBeNull();
      expect(await one.slots.acquire('alice', 2)).toBeNull();
      // Owners are counted apart, however their ids are spelled.
      expect(await one.slots.acquire('a}b:{c', 1)).not.toBeNull();
      await first?.release();
      await first?.release();
      const third = await one.slots.acquire('alice', 2);
      expect(third).not.toBeNull();
      expect(await one.slots.acquire('alice', 2)).toBeNull();
      await second?.[Symbol.asyncDispose]();
      await third?.release();
      expect(await one.stored('alice')).toEqual([]);
    });

    it('shares one count between instances on the same Redis', async () => {
      const keyPrefix = uniquePrefix();
      await using a = await instance(keyPrefix);
      await using b = await instance(keyPrefix);
      const fromA = [await a.slots.acquire('alice', 3), await a.slots.acquire('alice', 3)];
      const fromB = await b.slots.acquire('alice', 3);
      expect([...fromA, fromB].every((slot) => slot !== null)).toBe(true);
      expect(await a.slots.acquire('alice', 3)).toBeNull();
      expect(await b.slots.acquire('alice', 3)).toBeNull();
      await fromA[0]?.release();
      const again = await b.slots.acquire('alice', 3);
      expect(again).not.toBeNull();
      for (const slot of [fromA[1], fromB, again]) await slot?.release();
    });

    it('frees the slots of an instance that stopped renewing them once their TTL passed', async () => {
      const keyPrefix = uniquePrefix();
      await using survivor = await instance(keyPrefix);
      await using dying = await instance(keyPrefix, { ttlMs: 1_000 });
      expect(await dying.slots.acquire('alice', 2)).not.toBeNull();
      expect(await dying.slots.acquire('alice', 2)).not.toBeNull();
      // As a SIGKILL would: no more renewals, no releases, nothing said to Redis.
      dying.client.disconnect();
      const died = Date.now();
      expect(await survivor.slots.acquire('alice', 2)).toBeNull();
      let freed: Awaited<ReturnType<RedisStreamSlots['acquire']>> = null;
      await eventually(async () => {
        freed = await survivor.slots.acquire('alice', 2);
        return freed !== null;
      });
      expect(Date.now() - died).toBeGreaterThan(500);
      // The dying instance's failed renewals were reported as outages, and did not throw.
      expect(dying.errors.length).toBeGreaterThan(0);
      expect(dying.errors.every((error) => error instanceof StoreUnavailableError)).toBe(true);
    });

    it('keeps the slots of a live instance past their TTL by renewing them', async () => {
      const keyPrefix = uniquePrefix();
      await using holder = await instance(keyPrefix, { ttlMs: 1_500 });
      await using other = await instance(keyPrefix);
      const held = await holder.slots.acquire('alice', 1);
      await new Promise((resolve) => setTimeout(resolve, 4_500));
      expect(await other.slots.acquire('alice', 1)).toBeNull();
      expect(holder.errors).toEqual([]);
      await held?.release();
      expect(await other.slots.acquire('alice', 1)).not.toBeNull();
    });

    it('adds back a held slot that expired while renewals failed', async () => {
      await using one = await instance(uniquePrefix(), { ttlMs: 600 });
      const held = await one.slots.acquire('alice', 1);
      const [id] = await one.stored('alice');
      // What an outage longer than the TTL leaves: the slot dropped, the stream still open.
      await one.client.zrem(one.keys.streamSlots('alice'), String(id));
      await eventually(async () => (await one.stored('alice')).length === 1);
      expect(await one.stored('alice')).toEqual([id]);
      await held?.release();
    });

    it('fails to acquire with StoreUnavailableError while Redis is unreachable; releasing then never throws', async () => {
      await using one = await instance(uniquePrefix());
      const held = await one.slots.acquire('alice', 2);
      one.client.disconnect();
      await expect(one.slots.acquire('alice', 2)).rejects.toBeInstanceOf(StoreUnavailableError);
      await held?.release();
      expect(one.errors).toHaveLength(1);
      expect(one.errors[0]).toBeInstanceOf(StoreUnavailableError);
    });

    it('gives every held slot back on close, and refuses to acquire after it', async () => {
      const keyPrefix = uniquePrefix();
      await using one = await instance(keyPrefix);
      await using other = await instance(keyPrefix);
      const held = [await one.slots.acquire('alice', 2), await one.slots.acquire('bob', 2)];
      await one.slots.close();
      expect(await other.stored('alice')).toEqual([]);
      expect(await other.stored('bob')).toEqual([]);
      await expect(one.slots.acquire('alice', 2)).rejects.toBeInstanceOf(StoreUnavailableError);
      // A delivery that ends after the shutdown still releases its slot, harmlessly.
      for (const slot of held) await slot?.release();
      expect(one.errors).toEqual([]);
    });
  });
}
