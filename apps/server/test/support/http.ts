import { request } from 'node:http';

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
