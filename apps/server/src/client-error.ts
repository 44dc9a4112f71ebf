import { randomUUID } from 'node:crypto';
import { type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, type HttpError, sendHttpError } from '@execstream/delivery';
import type { Logger } from './logger.ts';
import { requestIdOf } from './request-id.ts';

/** What the HTTP parser's refusals mean to the client (Node answers them with bare statuses). */
function httpErrorOf(code: string | undefined): HttpError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'REQUEST_HEADER_FIELDS_TOO_LARGE',
        message: 'The request headers are too large',
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        message: 'The chunk extensions are too large',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'REQUEST_TIMEOUT',
        message: 'The request took too long to arrive',
      };
    default:
      return { status: 400, code: 'BAD_REQUEST', message: 'Malformed HTTP request' };
  }
}

/**
 * Answers requests the HTTP parser refused before any route saw them (headers over the size
 * limit, a malformed request line) with a CONTRACT §7 body and an `X-Request-Id`, like every
 * other error, where Node would send a bare status. When a response is under way on the
 * connection (a stream, say), nothing can be written in its middle: that connection is closed.
 * Requests with an `Expect` Node does not serve get the same treatment (417).
 * `watch` the server, and give `handle` to Fastify as its `clientErrorHandler`.
 */
export function createClientErrorHandler(logger: Logger): {
  handle(error: NodeJS.ErrnoException, socket: Duplex): void;
  watch(server: Server): void;
} {
  const responding = new WeakMap<Duplex, number>();
  return {
    watch(server) {
      server.on('request', (req, res) => {
        const { socket } = req;
        responding.set(socket, (responding.get(socket) ?? 0) + 1);
        // `on`: a response closes once, and `once` would wrap the listener in a state object and
        // a bound function, held for as long as the response (a stream) stays open.
        res.on('close', () => responding.set(socket, (responding.get(socket) ?? 1) - 1));
      });
      // An `Expect` other than 100-continue: Node would answer a bare 417 with no request id.
      server.on('checkExpectation', (req, res) => {
        const requestId = requestIdOf(req);
        logger.info({ reqId: requestId, status: 417 }, 'request refused');
        res.setHeader('X-Request-Id', requestId);
        sendHttpError(res, {
          status: 417,
          code: 'EXPECTATION_FAILED',
          message: 'The only expectation served is Expect: 100-continue',
        });
      });
    },
    handle(error, socket) {
      if (error.code === 'ECONNRESET' || !socket.writable || (responding.get(socket) ?? 0) > 0) {
        socket.destroy();
        return;
      }
      const requestId = randomUUID();
      const answer = httpErrorOf(error.code);
      const body = errorBody(answer);
      logger.info({ reqId: requestId, status: answer.status, code: error.code }, 'request refused');
      socket.end(
        [
          `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}`,
          'Content-Type: application/json; charset=utf-8',
          `Content-Length: ${Buffer.byteLength(body)}`,
          'Cache-Control: no-store',
          `X-Request-Id: ${requestId}`,
          'Connection: close',
          '',
          body,
        ].join('\r\n'),
      );
    },
  };
}
