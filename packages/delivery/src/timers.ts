import type { ServerResponse } from 'node:http';

/** Writes `frame` every `intervalMs` until disposed (SSE pings: CONTRACT §5). */
export function pingEvery(res: ServerResponse, frame: string, intervalMs: number): Disposable {
  const timer = setInterval(() => {
    if (!res.writableEnded && !res.destroyed) res.write(frame);
  }, intervalMs);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

/** Runs `fire` once after `ms` unless disposed first (a stream's lifetime). */
export function after(ms: number, fire: () => void): Disposable {
  const timer = setTimeout(fire, ms);
  return { [Symbol.dispose]: () => clearTimeout(timer) };
}

/** Resolves once the socket can take more, or is gone. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
