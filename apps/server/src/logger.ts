import { pino } from 'pino';
import type { ServerConfig } from './config.ts';

export type Logger = pino.Logger;

/** Structured JSON logs on stdout, one object per line. Credentials are never logged. */
export function createLogger(level: ServerConfig['logLevel']): Logger {
  return pino({
    level,
    base: { service: 'execstream' },
    redact: ['req.headers["x-api-key"]', 'req.headers.cookie'],
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
