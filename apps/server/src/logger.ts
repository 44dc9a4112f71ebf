import { pino } from 'pino';
import type { ServerConfig } from './config.ts';
import { scrubSecrets } from './scrub.ts';

export type Logger = pino.Logger;

/**
 * Structured JSON logs on stdout, one object per line. Credentials are never logged: headers
 * that carry them are redacted, and an error's message and stack (which may quote a request's
 * URL, `connectionParams` and all) are scrubbed.
 */
export function createLogger(level: ServerConfig['logLevel']): Logger {
  return pino({
    level,
    base: { service: 'execstream' },
    redact: ['req.headers["x-api-key"]', 'req.headers.cookie'],
    serializers: { err: scrubbedError },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

function scrubbedError(error: Error): Record<string, unknown> {
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  for (const field of ['message', 'stack'] as const) {
    const value = serialized[field];
    if (typeof value === 'string') serialized[field] = scrubSecrets(value);
  }
  return serialized;
}
