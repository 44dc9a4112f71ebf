import { connect, type Socket } from 'node:net';

/** One answer read off a raw connection, as the bytes framed it. */
export interface WireResponse {
  /** The final status; `0` when the connection ended before one arrived. */
  status: number;
  /** Lower-cased names; a repeated header is its values joined with `, `. */
  headers: Record<string, string>;
  /** The body, de-chunked; only its first bytes for an event stream. */
  body: string;
  /** The statuses of interim (1xx) answers before the final one. */
  interim: number[];
  /**
   * `complete`: framed to its end; `stream`: an event stream, cut after its first bytes;
   * `closed`/`reset`: the server closed or reset the connection before the answer was whole (or
   * before any); `timeout`: nothing ended it in time.
   */
  ending: 'complete' | 'stream' | 'closed' | 'reset' | 'timeout';
}

export interface WireOptions {
  /** A HEAD answer carries no body whatever its headers say. */
  head?: boolean;
  /** Half-close after the last part: the server sees the end of the request bytes. */
  halfClose?: boolean;
  /** @default 10_000 */
  timeoutMs?: number;
}

/**
 * Writes `parts` on a connection of their own, byte for byte (nothing is checked or fixed up,
 * so malformed framing reaches the server as written), and reads the first final answer: to its
 * framed end, or only its first bytes for an event stream. The connection is then dropped.
 * Errors writing are ignored: a server may answer and close before it has read everything.
 */
export function exchange(
  baseUrl: string,
  parts: readonly (string | Buffer)[],
  options: WireOptions = {},
): Promise<WireResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    const response: WireResponse = {
      status: 0,
      headers: {},
      body: '',
      interim: [],
      ending: 'closed',
    };
    let bodyStart = -1;
    let settled = false;
    const settle = (ending: WireResponse['ending']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      response.ending = ending;
      socket.destroy();
      resolve(response);
    };
    const timer = setTimeout(() => settle('timeout'), options.timeoutMs ?? 10_000);

    /** Parses what has arrived; settles once the answer is whole. */
    const advance = () => {
      while (bodyStart < 0) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [statusLine = '', ...lines] = received
          .subarray(0, end)
          .toString('latin1')
          .split('\r\n');
        const status = Number(statusLine.split(' ')[1]);
        received = received.subarray(end + 4);
        if (status >= 100 && status < 200) {
          response.interim.push(status);
          continue;
        }
        response.status = status;
        for (const line of lines) {
          const colon = line.indexOf(':');
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          response.headers[name] =
            name in response.headers ? `${response.headers[name]}, ${value}` : value;
        }
        bodyStart = 0;
      }
      const { headers, status } = response;
      if (options.head || status === 204 || status === 304) return settle('complete');
      if (headers['content-type']?.startsWith('text/event-stream')) {
        if (received.length === 0) return;
        response.body = received.toString('utf8');
        return settle('stream');
      }
      if (headers['transfer-encoding']?.includes('chunked')) {
        const decoded = dechunk(received);
        if (decoded === null) return;
        response.body = decoded.toString('utf8');
        return settle('complete');
      }
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (received.length < length) return;
        response.body = received.subarray(0, length).toString('utf8');
        return settle('complete');
      }
      // Neither length nor chunks: the body runs to the close.
    };

    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      advance();
    });
    socket.on('end', () => {
      if (bodyStart >= 0) response.body = received.toString('utf8');
      const framedToClose =
        bodyStart >= 0 &&
        response.headers['content-length'] === undefined &&
        !response.headers['transfer-encoding']?.includes('chunked');
      settle(framedToClose ? 'complete' : 'closed');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // EPIPE is the server refusing the rest of a request it has answered (or will): read on.
      if (error.code !== 'EPIPE') settle('reset');
    });
    socket.on('close', () => settle(bodyStart >= 0 ? 'closed' : 'reset'));
    void (async () => {
      for (const part of parts) {
        if (settled || socket.destroyed) return;
        if (!socket.write(part)) {
          await new Promise<void>((resolve) => {
            socket.once('drain', resolve);
            socket.once('close', resolve);
          });
        }
      }
      if (options.halfClose && !socket.destroyed) socket.end();
    })();
  });
}

/** The body of a whole chunked encoding, or `null` while its last chunk has not arrived. */
function dechunk(bytes: Buffer): Buffer | null {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(bytes.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return Buffer.concat(chunks);
    if (size === 0) return Buffer.concat(chunks);
    const start = lineEnd + 2;
    if (bytes.length < start + size + 2) return null;
    chunks.push(bytes.subarray(start, start + size));
    offset = start + size + 2;
  }
}

/** A raw connection that took the first bytes of its answer and then stopped reading. */
export interface StalledReader extends Disposable {
  socket: Socket;
  /** What it took before it stopped. */
  first: Buffer;
  /**
   * Reads on until the server ends the connection: resolves with every byte received (the first
   * included) and whether it ended with a close (FIN) or a reset.
   */
  readRest(): Promise<{ bytes: Buffer; ending: 'end' | 'reset' }>;
}

/**
 * Sends `request` (the whole request, as bytes) on a connection of its own, takes the first
 * bytes of the answer and stops reading: whatever the server sends next waits in the kernel's
 * buffers, then in the server's.
 */
export async function stalledReader(baseUrl: string, request: string): Promise<StalledReader> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  let ending: 'end' | 'reset' | null = null;
  const ended = new Promise<void>((resolve) => {
    socket.once('end', () => {
      ending ??= 'end';
      resolve();
    });
    socket.once('close', () => {
      ending ??= 'reset';
      resolve();
    });
  });
  socket.on('error', () => {
    ending ??= 'reset';
  });
  socket.write(request);
  const first = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve(chunk);
    });
    socket.once('close', () => reject(new Error('closed before answering')));
  });
  chunks.push(first);
  return {
    socket,
    first,
    async readRest() {
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.resume();
      await ended;
      return { bytes: Buffer.concat(chunks), ending: ending ?? 'end' };
    },
    [Symbol.dispose]: () => socket.destroy(),
  };
}
