import { type IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type HttpError,
  httpErrorOf,
  INTERNAL_ERROR,
  OPERATION_ID_INVALID,
} from '@execstream/delivery';
import type { RedisClient } from '@execstream/redis-store';
import cookie from '@fastify/cookie';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createClientErrorHandler } from './client-error.ts';
import type { Logger } from './logger.ts';
import { requestIdOf } from './request-id.ts';
import { PRODUCER_ROUTES } from './routes/producer.ts';
import { scrubSecrets } from './scrub.ts';

export interface AppOptions {
  logger: Logger;
  /** Larger request bodies are refused unread with 413 `PAYLOAD_TOO_LARGE`. */
  bodyLimit: number;
  /** Fastify's `trustProxy`: whose `X-Forwarded-For` gives the client address. */
  trustProxy: boolean | string[];
  /** Where counters shared by every instance live (failed credential checks); memory if null. */
  redis: RedisClient | null;
  /** False when `/metrics` has a port of its own: here it is then an unknown path. */
  metricsHere: boolean;
  /** Browser origins allowed on `/v1/*` with credentials (`EXECSTREAM_CORS_ORIGINS`). */
  corsOrigins: readonly string[];
  /**
   * Answers a browser navigating to a path no route serves (a client route of the web app);
   * false when it is not one, and the 404 stands.
   */
  navigation?: (req: FastifyRequest, reply: FastifyReply, pathname: string) => boolean;
}

/**
 * The methods each route serves, for the 405 of every other method (CONTRACT §8). Routes whose
 * path matches none answer 404.
 */
interface KnownRoute {
  pattern: RegExp;
  allow: string;
  /** The answer for a malformed percent-escape in its path. */
  badUrl?: HttpError;
}

function knownRoutes(metricsHere: boolean): KnownRoute[] {
  return [
    { pattern: /^\/v1\/trpc\/./, allow: 'GET, POST' },
    { pattern: /^\/v1\/auth\/(siwe\/challenge|siwe\/verify|logout)$/, allow: 'POST' },
    { pattern: /^\/v1\/auth\/session$/, allow: 'GET' },
    // A malformed percent-escape can only be in the operation id.
    { pattern: /^\/v1\/executions\/[^/]+\/stream$/, allow: 'GET', badUrl: OPERATION_ID_INVALID },
    {
      pattern: /^\/v1\/ai\/executions\/[^/]+\/ag-ui-stream$/,
      allow: 'GET, POST',
      badUrl: OPERATION_ID_INVALID,
    },
    {
      pattern: metricsHere ? /^\/(healthz|readyz|metrics)$/ : /^\/(healthz|readyz)$/,
      allow: 'GET, HEAD',
    },
    { pattern: /^\/v1\/openapi\.json$/, allow: 'GET, HEAD' },
    ...PRODUCER_ROUTES,
  ];
}

/**
 * The HTTP server's composition on Fastify: request ids and access logs around every request,
 * CONTRACT §7 bodies for every error Fastify raises itself, 404 and 405, and the shared
 * failed-credential counter. Nothing here knows about executions; the routes' plugins do.
 */
export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  const { logger } = options;
  const routes = knownRoutes(options.metricsHere);
  const routeOf = (url: string) => {
    const pathname = pathnameOf(url);
    return { pathname, route: routes.find(({ pattern }) => pattern.test(pathname)) };
  };
  const clientErrors = createClientErrorHandler(logger);
  const app = Fastify({
    bodyLimit: options.bodyLimit,
    trustProxy: options.trustProxy,
    genReqId: requestIdOf,
    // Stream requests arriving during shutdown are answered by their route (a `retry:` that
    // sends the client elsewhere), never a 503 that would end an EventSource.
    return503OnClosing: false,
    // Shutdown closes connections itself, once streams have ended cleanly.
    forceCloseConnections: false,
    clientErrorHandler: clientErrors.handle,
    // Node answers an HTTP/1.1 request without Host itself, with a bare 400; the onRequest hook
    // answers it instead, in the CONTRACT §7 shape like every other refusal.
    http: { requireHostHeader: false },
    routerOptions: { maxParamLength: 256 },
    // Errors raised while routing, before any hook (a malformed percent-escape, a path parameter
    // over its length): answered here in the CONTRACT §7 shape with the request's id, and
    // logged, where Fastify would answer with its own body and nothing else.
    frameworkErrors: (error, req, reply) => {
      reply.header('X-Request-Id', req.id);
      logWhenClosed(req, reply);
      const answer = req.url.startsWith('/')
        ? routingErrorOf(error, routeOf(req.url).route?.badUrl)
        : // An authority (`CONNECT host:port`) or absolute URL: this server is no proxy.
          { status: 400, code: 'BAD_REQUEST', message: 'The request target must be a path' };
      if (answer === INTERNAL_ERROR) logger.error({ reqId: req.id, err: error }, 'routing failed');
      sendError(reply, answer);
    },
  });
  clientErrors.watch(app.server);
  answerConnect(app);

  /** The access log line of a request, written when its response closes. */
  function logWhenClosed(req: FastifyRequest, reply: FastifyReply): void {
    const started = performance.now();
    // Streams write to the raw response and outlive Fastify's own lifecycle: log on its close.
    reply.raw.once('close', () => {
      logger.info(
        {
          reqId: req.id,
          method: req.method,
          path: scrubSecrets(pathnameOf(req.url)),
          status: reply.raw.statusCode,
          durationMs: Math.round(performance.now() - started),
          completed: reply.raw.writableFinished,
        },
        'request',
      );
    });
  }

  app.addHook('onRequest', (req, reply, done) => {
    // On the raw response: streams take it over from Fastify (hijack), and keep its headers.
    reply.raw.setHeader('X-Request-Id', req.id);
    logWhenClosed(req, reply);
    const hostProblem = hostProblemOf(req.raw);
    // Answered here, before any route: `done` is not called.
    if (hostProblem) return sendError(reply, hostProblem);
    done();
  });

  app.setErrorHandler((error, req, reply) => {
    // A route may have a body limit of its own (the sign-in routes): a 413 names that one.
    const bodyLimit = req.routeOptions.bodyLimit ?? options.bodyLimit;
    const known = httpErrorOf(error) ?? frameworkErrorOf(error, bodyLimit);
    if (!known) logger.error({ reqId: req.id, err: error }, 'request failed');
    sendError(reply, known ?? INTERNAL_ERROR);
  });

  app.setNotFoundHandler((req, reply) => {
    const { pathname, route } = routeOf(req.url);
    if (route) return sendMethodNotAllowed(reply, route.allow);
    if (options.navigation?.(req, reply, pathname)) return;
    sendError(reply, {
      status: 404,
      code: 'NOT_FOUND',
      message: `No route for ${req.method} ${pathname.slice(0, 200)}`,
    });
  });

  // CORS after the request id: a preflight is answered in this hook, and carries the id too.
  await app.register(cors, corsOptions(options.corsOrigins));
  // Parsed where a credential is read (credentials.ts), not on every request; set by auth routes.
  await app.register(cookie, { hook: false });

  // Counters only, applied where a route asks (the credential guard): no global request limit.
  await app.register(rateLimit, {
    global: false,
    ...(options.redis ? { redis: options.redis, nameSpace: 'execstream:failed-credentials:' } : {}),
    // A Redis outage must not lock every client out; the requests fail on the store anyway.
    skipOnError: true,
  });
  return app;
}

/**
 * `CONNECT` goes through the route table like every other method (405 with `Allow` on a route,
 * 404 elsewhere): Node hands it to a `connect` listener rather than to the request handler, and
 * without one it closed the socket with no answer at all. This server tunnels nothing, so the
 * response closes the connection.
 */
function answerConnect(app: FastifyInstance): void {
  app.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    // Node took its own listeners off the socket: a reset must not become an uncaught error.
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    app.routing(req, res);
  });
}

/** Request headers a listed origin may send (CONTRACT §9), and response headers it may read. */
const CORS_ALLOWED_HEADERS = [
  'content-type',
  'x-api-key',
  'last-event-id',
  'x-request-id',
  // httpBatchStreamLink asks for tRPC's streamed responses with it.
  'trpc-accept',
];
const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after'];

/**
 * CORS for the listed origins on every `/v1/*` route, credentials included (CONTRACT §9):
 * preflights get 204 with the allow headers, responses `Access-Control-Allow-Origin` and
 * `-Credentials`, all `Vary: Origin`. Any other origin, and any other path, gets no CORS header:
 * its preflight falls through to the route table (405 with `Allow`, or 404).
 */
function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  const allowed = new Set(origins);
  const forV1: FastifyCorsOptions = {
    origin: (origin, callback) =>
      callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
    // A bare OPTIONS from a listed origin is answered as a preflight, not with a text/plain 400.
    strictPreflight: false,
  };
  return {
    delegator: (req, callback) =>
      callback(null, pathnameOf(req.url ?? '/').startsWith('/v1/') ? forV1 : { origin: false }),
  };
}

/** Writes `{"success":false,"error":{code,message}}` (CONTRACT §7). */
export function sendError(reply: FastifyReply, error: HttpError): void {
  if (error.retryAfterSeconds !== undefined) {
    reply.header('Retry-After', String(error.retryAfterSeconds));
  }
  reply
    .code(error.status)
    .header('Cache-Control', 'no-store')
    .type('application/json; charset=utf-8')
    .send({ success: false, error: { code: error.code, message: error.message } });
}

/** In this scope no body is parsed, whatever it claims to be: for routes that read none. */
export function ignoreBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
}

/** A 200 with a JSON body that no cache keeps. */
export function sendJson(reply: FastifyReply, body: unknown): void {
  reply.code(200).header('Cache-Control', 'no-store').send(body);
}

export function sendMethodNotAllowed(reply: FastifyReply, allow: string): void {
  reply.header('Allow', allow);
  sendError(reply, {
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    message: `Use ${allow.replace(', ', ' or ')}`,
  });
}

/**
 * The CONTRACT §7 answer for an error Fastify raised before a route ran (a body too large, a
 * content type nobody parses, a malformed URL or body), worded for the client: Fastify's own
 * messages name its internals. `null` for anything that is the server's fault.
 */
function frameworkErrorOf(error: unknown, bodyLimit: number): HttpError | null {
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  switch (status) {
    case 413:
      return {
        status,
        code: 'PAYLOAD_TOO_LARGE',
        message: `The request body is larger than ${bodyLimit} bytes`,
      };
    case 415:
      return {
        status,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'Unsupported content-type: send application/json',
      };
    case 400:
      return { status, code: 'BAD_REQUEST', message: 'Malformed request' };
    default:
      return {
        status,
        code: (STATUS_CODES[status] ?? 'Bad Request').toUpperCase().replace(/[^A-Z]+/g, '_'),
        message: STATUS_CODES[status] ?? 'Bad request',
      };
  }
}

/**
 * The answer for an error raised while routing: a malformed percent-escape or a path parameter
 * over its length (Fastify's `FST_ERR_BAD_URL`, `FST_ERR_MAX_PARAM_LENGTH`) is the route's own
 * answer for a bad path when it has one (`OPERATION_ID_INVALID`: the only parameter is the
 * operation id), else a 400 or 414; anything else is the server's fault.
 */
function routingErrorOf(error: { code?: string }, badPath: HttpError | undefined): HttpError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return (
        badPath ?? {
          status: 400,
          code: 'BAD_REQUEST',
          message: 'The URL has a malformed percent-encoding',
        }
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return badPath ?? { status: 414, code: 'URI_TOO_LONG', message: 'The URL path is too long' };
    default:
      return INTERNAL_ERROR;
  }
}

/** `host` or `host:port`, the host a registered name or an IP literal (RFC 3986 §3.2.2). */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(:\d{0,5})?$/;

/**
 * Why a request's `Host` cannot be served, or `null`. RFC 9112 §3.2: an HTTP/1.1 request without
 * one, with more than one, or with one that is not a host is answered 400; an `http` URI has a
 * non-empty host (RFC 9110 §4.2.1). tRPC builds its request URL from `Host`, and such a Host
 * made that a 500 on every tRPC call.
 */
function hostProblemOf(req: IncomingMessage): HttpError | null {
  const host = req.headers.host;
  let hostLines = 0;
  for (let index = 0; index < req.rawHeaders.length; index += 2) {
    if (req.rawHeaders[index]?.toLowerCase() === 'host') hostLines++;
  }
  let message: string | null = null;
  if (hostLines > 1) message = 'Send one Host header';
  else if (host === undefined)
    message = req.httpVersion === '1.0' ? null : 'A Host header is required';
  else if (!(HOST.test(host) && URL.canParse(`http://${host}`))) {
    message = 'The Host header must name a host';
  }
  return message === null ? null : { status: 400, code: 'BAD_REQUEST', message };
}

/** The path of a request URL, `/` for anything unparseable (which then matches no route). */
export function pathnameOf(url: string): string {
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return '/';
  }
}

/**
 * Hands the response to a stream, which writes the raw response itself: the headers set on
 * Fastify's reply so far (CORS, for an EventSource on another origin) go along.
 */
export function hijack(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) reply.raw.setHeader(name, value);
  }
  reply.hijack();
}
