import { StoreUnavailableError, type StreamSlot } from '@execstream/stream-service';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  type ConnectOptions,
  connectRedis,
  type RedisClient,
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
  async function instance(
    keyPrefix: string,
    options: RedisStreamSlotsOptions = {},
    connect: ConnectOptions = {},
  ) {
    const client = connectRedis(await urlOf(), { connectionName: 'stream-slots', ...connect });
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
      /** Calls of these commands the server(s) ran so far, summed over a cluster's masters. */
      calls: (...names: string[]) => commandCalls(client, names),
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

    it('grants exactly `limit` of a burst of acquires from two instances, in a few calls', async () => {
      const keyPrefix = uniquePrefix();
      await using a = await instance(keyPrefix);
      await using b = await instance(keyPrefix);
      const before = await a.calls('evalsha', 'eval');
      const bursts = [a, b].map((one) =>
        Array.from({ length: 100 }, () => one.slots.acquire('alice', 50)),
      );
      const [fromA = [], fromB = []] = await Promise.all(bursts.map((burst) => Promise.all(burst)));
      const calls = (await a.calls('evalsha', 'eval')) - before;
      const granted = [...fromA, ...fromB].filter((slot) => slot !== null);
      expect(granted).toHaveLength(50);
      expect(await a.stored('alice')).toHaveLength(50);
      // Each instance granted in order of arrival: its slots went to its first acquires.
      for (const results of [fromA, fromB]) {
        const held = results.filter((slot) => slot !== null).length;
        expect(results.slice(0, held).every((slot) => slot !== null)).toBe(true);
      }
      // A lone first acquire per instance, then the rest together: not one call per acquire.
      expect(calls).toBeLessThanOrEqual(10);
      await Promise.all(granted.map((slot) => slot.release()));
      expect(await a.stored('alice')).toEqual([]);
    });

    it('grants a group straddling the limit as many as fit, in order, and refuses the rest', async () => {
      await using one = await instance(uniquePrefix());
      const held = [];
      for (let index = 0; index < 3; index++) held.push(await one.slots.acquire('alice', 5));
      // However they are grouped (the first alone, or all six together), two fit: the first two.
      const burst = await Promise.all(
        Array.from({ length: 6 }, () => one.slots.acquire('alice', 5)),
      );
      expect(burst.map((slot) => slot !== null)).toEqual([true, true, false, false, false, false]);
      // The refused left nothing behind.
      expect(await one.stored('alice')).toHaveLength(5);
      await burst[1]?.release();
      expect(await one.slots.acquire('alice', 5)).not.toBeNull();
      expect(await one.slots.acquire('alice', 5)).toBeNull();
    });

    it('grants a group of hundreds, past what one ZADD of the script carries', async () => {
      await using one = await instance(uniquePrefix());
      const burst = await Promise.all(
        Array.from({ length: 700 }, () => one.slots.acquire('alice', 1_000)),
      );
      expect(burst.every((slot) => slot !== null)).toBe(true);
      expect(new Set(await one.stored('alice')).size).toBe(700);
      await Promise.all(burst.map((slot) => slot?.release()));
      expect(await one.stored('alice')).toEqual([]);
    });

    it('gives back concurrent releases in a few calls, each settled once its slot is gone', async () => {
      await using one = await instance(uniquePrefix());
      const slots = await Promise.all(
        Array.from({ length: 40 }, () => one.slots.acquire('alice', 40)),
      );
      expect(slots.every((slot) => slot !== null)).toBe(true);
      const before = await one.calls('zrem');
      await Promise.all(slots.map((slot) => slot?.release()));
      const calls = (await one.calls('zrem')) - before;
      expect(await one.stored('alice')).toEqual([]);
      expect(calls).toBeLessThanOrEqual(3);
      expect(one.errors).toEqual([]);
    });

    it('fails every queued acquire with StoreUnavailableError when Redis goes away', async () => {
      await using one = await instance(uniquePrefix());
      const [inFlight, ...queued] = Array.from({ length: 20 }, () =>
        one.slots.acquire('alice', 50),
      );
      one.client.disconnect();
      // The first was sent before the connection closed, and may have been answered.
      await inFlight?.catch(() => null);
      for (const result of await Promise.allSettled(queued)) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
    });

    it('fails every queued acquire with StoreUnavailableError when Redis stops answering', async () => {
      const keyPrefix = uniquePrefix();
      await using admin = await instance(keyPrefix);
      await using one = await instance(keyPrefix, {}, { commandTimeoutMs: 300 });
      await one.calls('evalsha'); // connected to every node before the pause
      const masters =
        admin.client instanceof Cluster ? admin.client.nodes('master') : [admin.client];
      // Scripts that write wait until the pause ends, as behind a server that hangs.
      await Promise.all(masters.map((node) => node.call('CLIENT', 'PAUSE', '5000', 'WRITE')));
      try {
        const burst = Array.from({ length: 20 }, () => one.slots.acquire('alice', 50));
        const results = await Promise.allSettled(burst);
        for (const result of results) {
          expect(result.status).toBe('rejected');
          expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
        }
      } finally {
        await Promise.all(masters.map((node) => node.call('CLIENT', 'UNPAUSE')));
      }
      // The timed-out call may have run once the pause ended: its slot is held for nobody, and
      // expires; the queued acquires were never sent.
      expect((await admin.stored('alice')).length).toBeLessThanOrEqual(1);
    });

    it('gives back the slots of a group in flight on close, and fails its acquires', async () => {
      const keyPrefix = uniquePrefix();
      await using one = await instance(keyPrefix);
      await using other = await instance(keyPrefix);
      const burst = Array.from({ length: 30 }, () => one.slots.acquire('alice', 50));
      const settled = Promise.allSettled(burst.slice(1));
      const first = (await burst[0]) as StreamSlot;
      // The other 29 went as one call as soon as the first was answered; closing before the
      // next turn of the event loop closes while that call is in flight.
      await new Promise((resolve) => setImmediate(resolve));
      await one.slots.close();
      expect(await other.stored('alice')).toEqual([]);
      for (const result of await settled) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
      await first.release();
      expect(one.errors).toEqual([]);
    });
  });
}

/** `INFO commandstats` calls of `names`, summed over the servers `client` talks to. */
async function commandCalls(client: RedisClient, names: string[]): Promise<number> {
  const servers = client instanceof Cluster ? client.nodes('master') : [client];
  let total = 0;
  for (const server of servers) {
    const stats = await server.info('commandstats');
    for (const name of names) {
      total += Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
    }
  }
  return total;
}
