import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

/** A pino logger whose lines are kept, for tests that read what the server logs. */
export function capturedLog(level = 'info'): { logger: Logger; text: () => string } {
  let logged = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged += chunk;
      done();
    },
  });
  return { logger: pino({ level }, sink), text: () => logged };
}
