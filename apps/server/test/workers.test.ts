import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { startRedisServer } from '@execstream/redis-testing';
import { describe, expect, it } from 'vitest';
import { redisServerEnv, type ServerProcess, spawnServer } from './support/process.ts';
import { OWNER_A } from './support/server.ts';
import { eventData, readSse } from './support/sse.ts';

const headers = { 'X-API-KEY': OWNER_A.key };

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The fourth field, after the command name in brackets (which may hold spaces).
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // Gone while listed.
    }
  }
  return children;
}

/** Whether process `entry` is a server spawned with `PORT=port` (its environment says so). */
function isWorkerOf(entry: string, port: string): boolean {
  if (!/^\d+$/.test(entry)) return false;
  try {
    const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
    return environ.includes(`PORT=${port}`) && environ.includes('EXECSTREAM_WORKERS=2');
  } catch {
    return false;
  }
}

/** TCP sockets a process holds open (its listening socket included). */
function socketsOf(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (/^socket:/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))) count++;
    } catch {
      // Closed while listed.
    }
  }
  return count;
}

async function until<T>(probe: () => T | Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function submit(url: string, steps: number, intervalMs: number): Promise<string> {
  const response = await fetch(`${url}/v1/trpc/v2.executions.submit`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'swap', params: { simulate: { steps, intervalMs } } }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { result: { data: { operationId: string } } }).result.data
    .operationId;
}

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split('\n').find((one) => one.startsWith(`${line} `));
  return Number(found?.split(' ')[1] ?? Number.NaN);
}

function banner(server: ServerProcess): Promise<string> {
  return until(
    () => server.stderr(),
    (text) => text.includes('browser origins allowed'),
  );
}

describe('EXECSTREAM_WORKERS: several server processes on one port', () => {
  it('serves streams from every worker, sums /metrics over them, replaces a worker that dies, and stops cleanly on SIGTERM', async () => {
    await using redis = await startRedisServer();
    await using server = await spawnServer(redisServerEnv(redis.url, { EXECSTREAM_WORKERS: '2' }));
    const primary = server.child.pid as number;
    expect(await banner(server)).toContain('workers: 2 processes on this port');
    const workers = await until(
      () => childrenOf(primary),
      (pids) => pids.length === 2,
    );

    // Readers of one long run, opened one by one until each worker holds some: connections go
    // to the workers in turn (a worker busy acknowledging the last one may pass its turn, so the
    // test counts rather than assumes). Each reader gets every event once, in order, whichever
    // worker it is on, until the run is cancelled.
    const before = workers.map(socketsOf);
    const operationId = await submit(server.url, 10_000, 50);
    const reads: ReturnType<typeof readSse>[] = [];
    const spread = () => workers.every((pid, index) => socketsOf(pid) > (before[index] as number));
    while (reads.length < 8 || (!spread() && reads.length < 40)) {
      reads.push(readSse(`${server.url}/v1/executions/${operationId}/stream`, headers));
      await until(
        () => metric(server.url, 'execstream_streams_active{surface="sse"}'),
        (count) => count === reads.length,
      );
    }
    expect(spread()).toBe(true);
    const cancelled = await fetch(`${server.url}/v1/trpc/v2.executions.cancel`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ operationId }),
    });
    expect(cancelled.status).toBe(200);
    const histories = (await Promise.all(reads)).map((read) =>
      eventData(read).map((data) => JSON.parse(data) as { sequence: number; kind: string }),
    );
    for (const events of histories) {
      // From the snapshot it opened with (the head when it connected), each event once, in order.
      const first = events[0]?.sequence ?? 0;
      expect(events.map((event) => event.sequence)).toEqual(
        Array.from({ length: events.length }, (_, index) => first + index),
      );
      expect(events.at(-1)).toMatchObject({ kind: 'execution.state_changed' });
    }
    expect(new Set(histories.map((events) => events.at(-1)?.sequence)).size).toBe(1);

    // A worker killed outright is replaced, and the port goes on serving.
    process.kill(workers[0] as number, 'SIGKILL');
    const replaced = await until(
      () => childrenOf(primary),
      (pids) => pids.length === 2 && !pids.includes(workers[0] as number),
    );
    expect(replaced).toContain(workers[1]);
    const done = await submit(server.url, 3, 10);
    for (let index = 0; index < 4; index++) {
      const read = await readSse(`${server.url}/v1/executions/${done}/stream`, {
        ...headers,
        'Last-Event-ID': '0-0',
      });
      expect(read.status).toBe(200);
      expect(JSON.parse(eventData(read).at(-1) ?? '{}')).toMatchObject({
        payload: { to: 'completed' },
      });
    }

    // SIGTERM to the primary: streams on both workers end cleanly (their clients resume
    // elsewhere), every worker exits, and so does the primary, with 0.
    const long = await submit(server.url, 10_000, 100);
    const streams = Array.from({ length: 4 }, () =>
      readSse(`${server.url}/v1/executions/${long}/stream`, headers),
    );
    await until(
      () => metric(server.url, 'execstream_streams_active{surface="sse"}'),
      (count) => count === 4,
    );
    const exited = server.kill('SIGTERM');
    for (const ended of await Promise.all(streams)) {
      expect(ended.status).toBe(200);
      expect(eventData(ended).length).toBeGreaterThan(0);
    }
    expect(await exited).toBe(0);
    expect(childrenOf(primary)).toEqual([]);
  }, 60_000);

  it('exits 1 when a worker cannot start (its port is taken), leaving no worker behind', async () => {
    await using redis = await startRedisServer();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      const env = redisServerEnv(redis.url, { EXECSTREAM_WORKERS: '2', PORT: String(port) });
      await expect(spawnServer(env)).rejects.toThrow(/server exited \(1\) before listening/);
      // The primary reaped both workers before it exited: none of them is left.
      const stray = await until(
        () => readdirSync('/proc').filter((entry) => isWorkerOf(entry, String(port))),
        (found) => found.length === 0,
      );
      expect(stray).toEqual([]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('refuses several workers on the embedded store, saying why', async () => {
    const server = spawnServer({ PORT: '0', EXECSTREAM_WORKERS: '2' });
    await expect(server).rejects.toThrow(/EXECSTREAM_WORKERS=2 needs REDIS_URL/);
  });
});
