import { once } from 'node:events';
import { get, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BARE_PUBLISH_PATH, BARE_SUBSCRIBE_PATH, createBareNodeServer } from '../src/bare-node.ts';
import { PublisherProcess } from '../src/publisher-client.ts';
import { SseReader } from '../src/sse-reader.ts';

// The fan-out benchmark's floor column, kept from rotting: the broadcaster answers a subscriber
// with SSE, writes each publish to it as one frame, resumes from Last-Event-ID, and the
// benchmark's own publisher and reader round-trip events through it.
describe('the bare Node broadcaster', () => {
  let server: Server;
  let port: number;
  let publisher: PublisherProcess;

  beforeAll(async () => {
    server = createBareNodeServer({ history: 2 }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    publisher = new PublisherProcess();
  });

  afterAll(async () => {
    await publisher?.[Symbol.asyncDispose]();
    server?.closeAllConnections();
    server?.close();
  });

  async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('not within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  function publish(channel: string, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: `${BARE_PUBLISH_PATH}${channel}` },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode as number));
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  }

  it('writes a published body to an open subscriber as one SSE frame', async () => {
    const res = await new Promise<IncomingMessage>((resolve) =>
      get({ host: '127.0.0.1', port, path: `${BARE_SUBSCRIBE_PATH}frames` }, resolve),
    );
    try {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['transfer-encoding']).toBe('chunked');
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      expect(await publish('frames', '{"a":1}')).toBe(202);
      expect(await publish('other', '{"b":2}')).toBe(202);
      expect(await publish('frames', 'two\nlines')).toBe(202);
      await until(() => text.endsWith('lines\n\n'));
      expect(text).toBe('id: 1\ndata: {"a":1}\n\nid: 2\ndata: two\ndata: lines\n\n');
    } finally {
      res.destroy();
    }
  });

  it('round-trips the benchmark publisher’s events to its reader, resuming from Last-Event-ID within its history', async () => {
    const { ids } = await publisher.ask<'ready'>({
      type: 'setup',
      server: 'bare',
      executions: 1,
      redisUrl: 'redis://unused',
      port,
    });
    const reader = new SseReader({
      port,
      path: `${BARE_SUBSCRIBE_PATH}${ids[0]}`,
      onEvent: () => {},
    });
    try {
      await until(() => reader.status !== null);
      expect(reader.status).toBe('HTTP/1.1 200 OK');
      await publisher.ask({ type: 'warm', count: 1 });
      await until(() => reader.warmups === 1);
      await publisher.ask({ type: 'run', rounds: 1, ratePerSecond: 10 });
      await until(() => reader.rounds.length === 1);
      expect(reader.lastEventId).toBe('2');

      // Offline while three more are published: back, it gets the two the history keeps.
      reader.drop();
      await publisher.ask({ type: 'run', rounds: 3, ratePerSecond: 100 });
      reader.resume();
      await until(() => reader.rounds.length === 3);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(reader.rounds).toEqual([0, 1, 2]);
      expect(reader.lastEventId).toBe('5');
    } finally {
      reader.close();
    }
  });
});
