/**
 * The fan-out benchmark's floor: what Node's own HTTP stack costs for the job, with nothing of
 * execstream in it. A broadcaster on `node:http` alone: a reader's `GET` stays open as an SSE
 * response, and each event published to its channel is built once as one Buffer and handed to
 * every open response of the channel with plain `res.write` (chunked encoding, Node's default).
 * No store, no auth, no backpressure handling beyond what `res.write` does. Only `node:` imports,
 * so the process it runs in (`bare-node-main.ts`) holds nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** Paths it answers on, Nchan's (`POST /pub/<channel>`, `GET /sub/<channel>`). */
export const BARE_PUBLISH_PATH = '/pub/';
export const BARE_SUBSCRIBE_PATH = '/sub/';

export interface BareNodeOptions {
  /**
   * Frames kept per channel, in memory, to answer a reader back with `Last-Event-ID` (Nchan
   * answers one from its own buffer): the least that makes the benchmark's resume row mean
   * something. A reader further behind gets what is kept.
   * @default 1000
   */
  history?: number;
}

interface Channel {
  readers: Set<ServerResponse>;
  /** The last frames, oldest first; the newest has id `lastId`. */
  history: Buffer[];
  lastId: number;
}

const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };

/** The broadcaster, not yet listening. */
export function createBareNodeServer(options: BareNodeOptions = {}): Server {
  const keep = options.history ?? 1000;
  const channels = new Map<string, Channel>();
  const channel = (name: string): Channel => {
    let found = channels.get(name);
    if (!found) {
      found = { readers: new Set(), history: [], lastId: 0 };
      channels.set(name, found);
    }
    return found;
  };

  function subscribe(req: IncomingMessage, res: ServerResponse, name: string): void {
    const { readers, history, lastId } = channel(name);
    res.writeHead(200, SSE_HEADERS);
    // The status line goes now, not with the first event: the reader knows it is subscribed.
    res.flushHeaders();
    const since = Number(req.headers['last-event-id']);
    if (Number.isInteger(since) && since < lastId) {
      const missed = history.slice(Math.max(0, history.length - (lastId - since)));
      if (missed.length > 0) res.write(Buffer.concat(missed));
    }
    readers.add(res);
    res.once('close', () => readers.delete(res));
  }

  function publish(req: IncomingMessage, res: ServerResponse, name: string): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const target = channel(name);
      const id = ++target.lastId;
      const data = Buffer.concat(chunks).toString('utf8').split('\n').join('\ndata: ');
      const frame = Buffer.from(`id: ${id}\ndata: ${data}\n\n`);
      for (const reader of target.readers) reader.write(frame);
      target.history.push(frame);
      if (target.history.length > keep) target.history.shift();
      res.writeHead(202).end();
    });
  }

  return createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url.startsWith(BARE_SUBSCRIBE_PATH)) {
      subscribe(req, res, url.slice(BARE_SUBSCRIBE_PATH.length));
    } else if (req.method === 'POST' && url.startsWith(BARE_PUBLISH_PATH)) {
      publish(req, res, url.slice(BARE_PUBLISH_PATH.length));
    } else {
      res.writeHead(404).end();
    }
  });
}
