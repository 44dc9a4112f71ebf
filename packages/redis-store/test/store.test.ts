import { type Envelope, serializeEnvelope, splitSnapshot } from '@execstream/event-schema';
import { freePort, redisCommand } from '@execstream/redis-testing';
import {
  createStreamService,
  type ExecutionStreams,
  StoreUnavailableError,
} from '@execstream/stream-service';
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createRedisExecutionStreams,
  parseRedisUrl,
  RedisBackend,
  RedisKeys,
  toStoreError,
} from '../src/index.ts';
import { runScript, SCRIPTS } from '../src/scripts.ts';
import { history, redisServerForFile, uniquePrefix } from './support.ts';

const server = redisServerForFile();

/** A service and its backend on a fresh prefix; `await using` closes both. */
async function open(options: { terminalTtlMs?: number; now?: () => number } = {}) {
  const redis = await server();
  const keys = new RedisKeys(uniquePrefix());
  const backend = await RedisBackend.connect({
    url: redis.url,
    keyPrefix: keys.prefix,
    ...options,
  });
  const streams = createStreamService(backend, options);
  const call = (...args: string[]) => redisCommand(redis.port, args);
  return Object.assign(streams, { backend, keys, call });
}

async function running(streams: ExecutionStreams, ownerId = 'o', idempotencyKey?: string) {
  const { record } = await streams.create({ ownerId, type: 'swap', idempotencyKey });
  await streams.append(record.operationId, [
    { kind: 'execution.state_changed', payload: { from: 'accepted', to: 'running' } },
    { kind: 'execution.timeline_appended', payload: { message: 'hello' } },
  ]);
  return record.operationId;
}

describe('key layout', () => {
  it('stores exactly the documented keys, with owner ids and idempotency keys escaped', async () => {
    await using store = await open();
    const ownerId = 'a}b:{c';
    const operationId = await running(store, ownerId, 'key:1}');
    const keys = store.keys.execution(operationId);
    const owner = store.keys.owner(ownerId);
    const idempotency = store.keys.idempotency(ownerId, 'key:1}');
    expect(idempotency).toBe(`${store.keys.prefix}:{owner:a%7Db%3A%7Bc}:idem:key%3A1%7D`);
    const stored = (await store.call('KEYS', `${store.keys.prefix}:*`)) as string[];
    expect(stored.sort()).toEqual(
      [
        keys.state,
        keys.events,
        keys.timeline,
        owner.executions,
        owner.counter,
        owner.unfinished,
        idempotency,
        store.keys.unfinished(),
        store.keys.claimIndexes().types,
      ].sort(),
    );
    const types = await Promise.all(stored.map((key) => store.call('TYPE', key)));
    expect(Object.fromEntries(stored.map((key, index) => [key, types[index]]))).toEqual({
      [keys.state]: 'hash',
      [keys.events]: 'stream',
      [keys.timeline]: 'list',
      [owner.executions]: 'zset',
      [owner.counter]: 'string',
      [owner.unfinished]: 'zset',
      [idempotency]: 'string',
      [store.keys.unfinished()]: 'zset',
      [store.keys.claimIndexes().types]: 'hash',
    });
  });

  it('keeps a producer append by idempotency key in the execution slot, and leases indexed', async () => {
    await using store = await open();
    const operationId = await running(store);
    const claim = await store.claim({ leaseMs: 60_000 });
    expect(claim?.record.operationId).toBe(operationId);
    const { leases, types } = store.keys.claimIndexes();
    expect(await store.call('ZSCORE', leases, operationId)).not.toBeNull();
    expect(await store.call('HGET', types, operationId)).toBe('swap');
    await store.appendBatch(
      operationId,
      [{ kind: 'execution.progress', payload: { percent: 5 } }],
      { idempotencyKey: 'a}b', leaseToken: claim?.lease.token },
    );
    const remembered = store.keys.appended(operationId, 'a}b');
    expect(remembered).toBe(`${store.keys.prefix}:{${operationId}}:appended:a%7Db`);
    const ttl = (await store.call('PTTL', remembered)) as number;
    expect(ttl).toBeGreaterThan(86_000_000);
    expect(ttl).toBeLessThanOrEqual(86_400_000);
    await store.release(operationId, claim?.lease.token as string);
    expect(await store.call('ZSCORE', leases, operationId)).toBeNull();
    await store.append(operationId, [
      { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
    ]);
    expect(await store.call('HGET', types, operationId)).toBeNull();
  });

  it('uses each event cursor as its Redis stream entry id, the envelope as its one field', async () => {
    await using store = await open();
    const operationId = await running(store);
    const entries = (await store.call(
      'XRANGE',
      store.keys.execution(operationId).events,
      '-',
      '+',
    )) as [string, string[]][];
    const events = await history(store, operationId);
    expect(entries.map(([id]) => id)).toEqual(events.map((event) => event.cursor));
    expect(entries.map(([, fields]) => fields)).toEqual(
      events.map((event) => ['e', serializeEnvelope(event)]),
    );
  });

  it('sets expiries on every key of an execution once it is terminal, and only then', async () => {
    await using store = await open({ terminalTtlMs: 600_000 });
    const operationId = await running(store, 'o', 'idem');
    const keys = store.keys.execution(operationId);
    const idempotency = store.keys.idempotency('o', 'idem');
    expect(await store.acquireLease(operationId, 'worker', 60_000)).toBe(true);
    const ttls = () =>
      Promise.all(
        [keys.state, keys.events, keys.timeline, idempotency].map((key) => store.call('PTTL', key)),
      );
    expect(await ttls()).toEqual([-1, -1, -1, -1]);
    const indexes = [store.keys.unfinished(), store.keys.owner('o').unfinished];
    const scores = () =>
      Promise.all(indexes.map((index) => store.call('ZSCORE', index, operationId)));
    for (const score of await scores()) expect(score).not.toBeNull();

    await store.append(operationId, [
      { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
    ]);
    for (const ttl of await ttls()) {
      expect(ttl).toBeGreaterThan(500_000);
      expect(ttl).toBeLessThanOrEqual(600_000);
    }
    expect(await store.call('EXISTS', keys.lease)).toBe(0);
    expect(await scores()).toEqual([null, null]);
  });
});

describe('reads', () => {
  it('reads nothing after the largest possible cursor, and an unknown cursor is no event', async () => {
    await using store = await open();
    const operationId = await running(store);
    const last = '18446744073709551615-18446744073709551615';
    expect((await store.readHistory(operationId, { after: last })).events).toEqual([]);
    expect(await store.backend.readFrom(operationId, last, 10)).toEqual([]);
    // A cursor before the first event is no event: nothing, not the events after it.
    const [first, second] = await store.backend.readAfter(operationId, '0-0', 2);
    const firstCursor = (first as { cursor: string }).cursor;
    expect(await store.backend.readFrom(operationId, firstCursor, 2)).toEqual([first, second]);
    const before = `${BigInt(firstCursor.split('-')[0] as string) - 1n}-0`;
    expect(await store.backend.readFrom(operationId, before, 5)).toEqual([]);
    expect(await store.backend.readAfter('op_nowhere', '0-0', 10)).toEqual([]);
    expect(await store.backend.retention('op_nowhere')).toEqual({
      firstCursor: null,
      lastCursor: null,
      length: 0,
    });
  });
});

describe('scripts', () => {
  it('runs again after Redis forgot its scripts (NOSCRIPT), and caches them again', async () => {
    await using store = await open();
    const operationId = await running(store);
    expect(await store.call('SCRIPT', 'FLUSH')).toBe('OK');
    await store.append(operationId, [{ kind: 'execution.progress', payload: { percent: 5 } }]);
    expect(await store.call('SCRIPT', 'EXISTS', SCRIPTS.commit.sha, SCRIPTS.readState.sha)).toEqual(
      [1, 0],
    );
    expect((await store.getSnapshot(operationId)).progress).toEqual({ percent: 5 });
    expect(await store.call('SCRIPT', 'EXISTS', SCRIPTS.commit.sha, SCRIPTS.readState.sha)).toEqual(
      [1, 1],
    );
  });

  it('commit writes nothing on a conflict, a missing execution, or ids out of order', async () => {
    await using store = await open();
    const operationId = await running(store);
    const before = await history(store, operationId);
    const snapshot = await store.getSnapshot(operationId);
    const stale = before[0] as Envelope;
    const { head } = splitSnapshot(snapshot);
    const batch = (baseSequence: number, cursor: string) => ({
      baseSequence,
      envelopes: [{ ...stale, sequence: snapshot.sequence + 1, cursor, eventId: cursor }],
      head: { ...head, sequence: snapshot.sequence + 1, cursor },
      timelineEntries: [],
    });
    const next = `${Date.now() + 1000}-0`;
    expect(await store.backend.commit(operationId, batch(snapshot.sequence - 1, next))).toBe(
      'conflict',
    );
    expect(await store.backend.commit('op_nowhere', batch(snapshot.sequence, next))).toBe(
      'missing',
    );
    await expect(
      store.backend.commit(operationId, batch(snapshot.sequence, stale.cursor)),
    ).rejects.toThrow(/not after the stream top/);
    expect(await history(store, operationId)).toEqual(before);
    expect(await store.getSnapshot(operationId)).toEqual(snapshot);
  });

  it('maps script return codes of a terminal execution to a conflict the service resolves', async () => {
    await using store = await open();
    const operationId = await running(store);
    const snapshot = await store.getSnapshot(operationId);
    await store.append(operationId, [
      { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
    ]);
    const keys = store.keys.execution(operationId);
    // Forge the sequence back so only the terminal check stands in the way.
    await store.call('HSET', keys.state, 'seq', String(snapshot.sequence));
    const next = `${Date.now() + 1000}-0`;
    expect(
      await store.backend.commit(operationId, {
        baseSequence: snapshot.sequence,
        envelopes: [],
        head: { ...splitSnapshot(snapshot).head, cursor: next },
        timelineEntries: [],
      }),
    ).toBe('conflict');
  });
});

describe('creating across hash slots', () => {
  it('completes an execution whose creation crashed after the idempotency claim', async () => {
    await using store = await open();
    const owner = store.keys.owner('o');
    // The first request claimed the key and died before creating its execution.
    await runScript(
      store.backend.client,
      SCRIPTS.claim,
      [owner.executions, owner.counter, store.keys.idempotency('o', 'retry-me')],
      ['op_crashed'],
    );
    expect((await store.listExecutions('o')).items).toEqual([]);
    const retried = await store.create({ ownerId: 'o', type: 'swap', idempotencyKey: 'retry-me' });
    expect(retried.created).toBe(true);
    expect(retried.record.operationId).toBe('op_crashed');
    expect((await history(store, 'op_crashed'))[0]?.operationId).toBe('op_crashed');
    expect((await store.listExecutions('o')).items.map((item) => item.operationId)).toEqual([
      'op_crashed',
    ]);
    const again = await store.create({ ownerId: 'o', type: 'swap', idempotencyKey: 'retry-me' });
    expect(again).toMatchObject({ created: false, record: { operationId: 'op_crashed' } });
    // The slot reserved for the retry's own id went to the execution it completed.
    expect(await store.call('ZRANGE', owner.unfinished, '0', '-1')).toEqual(['op_crashed']);
  });

  it('drops unfinished-index entries of executions that ended or never came to be', async () => {
    let now = Date.now();
    await using store = await open({ now: () => now });
    const live = await running(store);
    const ended = await running(store);
    await store.append(ended, [
      { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
    ]);
    const index = store.keys.unfinished();
    // As if a process died between indexing and creating, and between ending and unindexing.
    await store.call('ZADD', index, String(now), 'op_never');
    await store.call('ZADD', index, '0', ended);
    expect(await store.listUnfinished()).toEqual([live]);
    // A missing execution may still be being created: kept through the grace period.
    expect(await store.call('ZRANGE', index, '0', '-1')).toEqual([live, 'op_never']);
    now += 61_000;
    expect(await store.listUnfinished()).toEqual([live]);
    expect(await store.call('ZRANGE', index, '0', '-1')).toEqual([live]);
  });

  it('claims past index entries of executions that ended, tidying them away', async () => {
    await using store = await open();
    const index = store.keys.unfinished();
    // Twenty runs that ended but stayed indexed ahead of the live one (their bookkeeping after
    // the end was cut short), more than a claim's rounds try at once.
    const ended: string[] = [];
    for (let count = 0; count < 20; count++) ended.push(await running(store));
    const live = (await store.create({ ownerId: 'o', type: 'swap' })).record.operationId;
    for (const operationId of ended) {
      await store.append(operationId, [
        { kind: 'execution.state_changed', payload: { from: 'running', to: 'cancelled' } },
      ]);
      await store.call('ZADD', index, '0', operationId);
    }
    const claims: string[] = [];
    for (;;) {
      const claim = await store.claim({ leaseMs: 60_000 });
      if (!claim) break;
      claims.push(claim.record.operationId);
    }
    expect(claims).toEqual([live]);
    expect(await store.call('ZRANGE', index, '0', '-1')).toEqual([live]);
  });
});

describe('connecting', () => {
  it('reads standalone and cluster URLs', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'standalone',
      url: 'redis://127.0.0.1:6379/2',
    });
    expect(parseRedisUrl('rediss+cluster://u:p%40ss@10.0.0.1:7000,[::1]:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      username: 'u',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis+cluster://h:1')).toEqual({
      kind: 'cluster',
      nodes: [{ host: 'h', port: 1 }],
      tls: false,
    });
    expect(() => parseRedisUrl('http://x')).toThrow(/redis\+cluster/);
    expect(() => parseRedisUrl('redis+cluster://nohost')).toThrow(/host:port/);
  });

  it('fails with StoreUnavailableError when nothing answers', async () => {
    const port = await freePort();
    await expect(
      createRedisExecutionStreams({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('maps outages to StoreUnavailableError and leaves error replies of bugs as they are', () => {
    const bug = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    expect(toStoreError(bug)).toBe(bug);
    expect(toStoreError(new ReplyError('LOADING Redis is loading the dataset'))).toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(toStoreError(new Error('Connection is closed.'))).toBeInstanceOf(StoreUnavailableError);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(toStoreError(refused)).toBeInstanceOf(StoreUnavailableError);
    // Our own bugs are never an outage: retried as one, they would be retried forever.
    const typeError = new TypeError('Do not know how to serialize a BigInt');
    expect(toStoreError(typeError)).toBe(typeError);
    const rangeError = new RangeError('Maximum call stack size exceeded');
    expect(toStoreError(rangeError)).toBe(rangeError);
  });

  it('refuses a record it cannot serialise before writing anything', async () => {
    await using store = await open();
    const attempt = store.create({
      ownerId: 'o',
      type: 'swap',
      params: { amount: 10n },
      idempotencyKey: 'k',
    });
    await expect(attempt).rejects.toBeInstanceOf(TypeError);
    expect(await store.call('KEYS', `${store.keys.prefix}:*`)).toEqual([]);
  });
});
