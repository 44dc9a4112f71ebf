import { request } from 'node:http';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request with nothing normalised (fetch would fix up paths and headers), reading at most
 * `maxBodyBytes` of the answer: a stream that stays open is cut there.
 */
export function rawRequest(
  baseUrl: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
  maxBodyBytes = 64 * 1024,
): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname,
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
      },
      (res) => {
        let body = '';
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          // SSE answers stay open: what matters here is the status and the first bytes.
          if (
            body.length >= maxBodyBytes ||
            res.headers['content-type']?.startsWith('text/event-stream')
          ) {
            res.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A reader that stops reading: a raw socket sends `GET path` (HTTP/1.0, so the body is plain,
 * unchunked SSE), takes the first chunk of the answer, then reads nothing more. `wake()` reads
 * the rest, up to the server's end, and resolves with the body (headers stripped).
 */
export async function stalledReader(
  baseUrl: string,
  path: string,
  apiKey: string,
): Promise<{ wake(): Promise<string> }> {
  const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
  socket.write(`GET ${path} HTTP/1.0\r\nHost: localhost\r\nX-API-KEY: ${apiKey}\r\n\r\n`);
  const received: Buffer[] = [];
  await new Promise<void>((resolve) => {
    socket.once('data', (chunk) => {
      received.push(chunk);
      socket.pause();
      resolve();
    });
  });
  const closed = new Promise<void>((resolve) => socket.once('end', resolve));
  return {
    async wake() {
      socket.on('data', (chunk) => received.push(chunk));
      socket.resume();
      await closed;
      const text = Buffer.concat(received).toString('utf8');
      return text.slice(text.indexOf('\r\n\r\n') + 4);
    },
  };
}

/** The value of a metric's series for one surface, from `/metrics`. */
export async function surfaceMetric(
  baseUrl: string,
  name: string,
  surface: string,
): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith(`${name}{surface="${surface}"}`));
  return Number(line?.split(' ').at(-1));
}
