import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { type ExecutionStreamRoute, INTERNAL_ERROR, sendHttpError } from '@execstream/sse';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';
import { requestIdOf } from './request-id.ts';

export const TRPC_BASE_PATH = '/v1/trpc';

export interface AppParts {
  trpc: RequestListener;
  sse: ExecutionStreamRoute;
  metrics: ServerMetrics;
  /** True when the store answers and the server is not shutting down. */
  ready: () => Promise<boolean>;
  logger: Logger;
}

/**
 * The HTTP composition: request ids and access logs around every request, then the routes.
 * Nothing here knows about executions; the packages do.
 */
export function createApp(parts: AppParts): RequestListener {
  const { logger } = parts;
  return (req, res) => {
    const requestId = requestIdOf(req);
    res.setHeader('X-Request-Id', requestId);
    const started = performance.now();
    const pathname = pathnameOf(req);
    res.once('close', () => {
      logger.info(
        {
          reqId: requestId,
          method: req.method,
          path: pathname,
          status: res.statusCode,
          durationMs: Math.round(performance.now() - started),
          completed: res.writableFinished,
        },
        'request',
      );
    });
    route(parts, req, res, pathname).catch((error: unknown) => {
      logger.error({ reqId: requestId, err: error }, 'request failed');
      sendHttpError(res, INTERNAL_ERROR);
    });
  };
}

async function route(
  parts: AppParts,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> {
  if (pathname === `${TRPC_BASE_PATH}` || pathname.startsWith(`${TRPC_BASE_PATH}/`)) {
    parts.trpc(req, res);
    return;
  }
  if (parts.sse.matches(pathname)) return parts.sse.handle(req, res);
  switch (pathname) {
    case '/healthz':
      return sendJson(res, 200, { status: 'ok' });
    case '/readyz':
      if (await parts.ready()) return sendJson(res, 200, { status: 'ready' });
      return sendHttpError(res, {
        status: 503,
        code: 'NOT_READY',
        message: 'The store is unreachable or the server is shutting down',
      });
    case '/metrics': {
      const body = await parts.metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': parts.metrics.registry.contentType });
      res.end(body);
      return;
    }
    default:
      return sendHttpError(res, {
        status: 404,
        code: 'NOT_FOUND',
        message: `No route for ${req.method} ${pathname.slice(0, 200)}`,
      });
  }
}

/** The path of a request, `/` for anything unparseable (which then matches no route). */
function pathnameOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '/';
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}
