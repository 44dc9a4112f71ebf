import { type BootstrapKey, parseBootstrapKeys } from '@execstream/auth';
import { MAX_PING_INTERVAL_MS, STREAM_DEFAULTS } from '@execstream/delivery';
import { parseRedisUrl } from '@execstream/redis-store';
import { MAX_BATCH_SIZE, TAIL_DEFAULTS } from '@execstream/stream-service';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function integer(name: string, min: number, max: number, fallback: number) {
  return z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === '') return fallback;
      // Digits only: Number() would also take 0x1F90, 1e3 and -0.
      const parsed = /^\d{1,10}$/.test(value.trim()) ? Number(value) : Number.NaN;
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        context.addIssue({
          code: 'custom',
          message: `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return parsed;
    });
}

/**
 * Why `REDIS_URL` cannot be used, or `null`. It is read here with the store's own parser, so a
 * URL the store would refuse stops the server at start with the other problems; and a URL
 * without a host is refused too, which the Redis client would quietly take for localhost.
 */
function redisUrlProblem(url: string): string | null {
  const example = 'e.g. redis://127.0.0.1:6379 or redis+cluster://10.0.0.1:7000,10.0.0.2:7000';
  if (/^rediss?(\+cluster)?:\/\/\/?$/.test(url)) return `REDIS_URL must name a host, ${example}`;
  let target: ReturnType<typeof parseRedisUrl>;
  try {
    target = parseRedisUrl(url);
  } catch (error) {
    return (error as Error).message;
  }
  if (target.kind === 'cluster') return null;
  let host: string;
  try {
    host = new URL(target.url).hostname;
  } catch {
    return `REDIS_URL is not a valid URL, ${example}`;
  }
  return host === '' ? `REDIS_URL must name a host, ${example}` : null;
}

/**
 * The origin of a URL that is nothing but an origin (`https://app.example.com`, `http://127.0.0.1:5173`);
 * `null` for anything else. With `allowSlash`, one final `/` is allowed too.
 */
function exactOrigin(value: string, allowSlash: boolean): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return value === url.origin || (allowSlash && value === `${url.origin}/`) ? url.origin : null;
}

/** What `pnpm start` allows when `EXECSTREAM_CORS_ORIGINS` is unset and the demo is on: the web app's dev server. */
export const DEV_CORS_ORIGINS = ['http://localhost:5173', 'http://127.0.0.1:5173'] as const;

/** At most this many server processes (`EXECSTREAM_WORKERS`): a bound on typos, not on machines. */
export const MAX_WORKERS = 256;

/** The defaults of the limits of CONTRACT §8, sized so one principal cannot take a server down. */
export const LIMIT_DEFAULTS = {
  /** Open streams of one principal, all surfaces and instances together. */
  maxStreamsPerOwner: 1000,
  /** Executions of one principal not yet terminal. */
  maxUnfinishedPerOwner: 1000,
  /** Failed credential checks per client address per window. */
  maxFailedAuth: 20,
  failedAuthWindowMs: 60_000,
  /** Calls in one tRPC batch. */
  maxBatchCalls: 50,
  /** Request body (256 KiB): larger than any valid input; `submit`'s params are at most 64 KiB. */
  maxBodyBytes: 262_144,
  /** SIWE challenges one client address may ask for per minute (each holds a nonce 5 minutes). */
  maxChallengesPerMinute: 30,
  /** How long a wallet session lasts (24 h). */
  sessionTtlMs: 86_400_000,
  /** Appends one producer key may make per second, all instances together (CONTRACT §12). */
  producerAppendsPerSecond: 200,
  /** Events in one producer append (CONTRACT §12: at most 100). */
  producerMaxBatchEvents: 100,
} as const;

/** `key:name` pairs of an environment variable, `null` when unset or empty. */
function bootstrapKeys(name: string, format: string) {
  return z
    .string()
    .optional()
    .transform((value, context): BootstrapKey[] | null => {
      if (value === undefined || value.trim() === '') return null;
      try {
        return parseBootstrapKeys(value);
      } catch (error) {
        context.addIssue({
          code: 'custom',
          message: `${name} ${(error as Error).message} (format: ${format})`,
        });
        return z.NEVER;
      }
    });
}

const EnvSchema = z.object({
  PORT: integer('PORT', 0, 65_535, 3000),
  EXECSTREAM_WORKERS: integer('EXECSTREAM_WORKERS', 1, MAX_WORKERS, 1),
  HOST: z.string().min(1).default('127.0.0.1'),
  REDIS_URL: z
    .string()
    .optional()
    .transform((value) => (value?.trim() ? value.trim() : null))
    .superRefine((value, context) => {
      const problem = value === null ? null : redisUrlProblem(value);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    }),
  EXECSTREAM_API_KEYS: bootstrapKeys('EXECSTREAM_API_KEYS', 'key:ownerId,key:ownerId'),
  EXECSTREAM_PRODUCER_KEYS: bootstrapKeys('EXECSTREAM_PRODUCER_KEYS', 'key:name,key:name'),
  EXECSTREAM_PRODUCER_APPENDS_PER_SECOND: integer(
    'EXECSTREAM_PRODUCER_APPENDS_PER_SECOND',
    1,
    1_000_000,
    LIMIT_DEFAULTS.producerAppendsPerSecond,
  ),
  EXECSTREAM_PRODUCER_MAX_BATCH_EVENTS: integer(
    'EXECSTREAM_PRODUCER_MAX_BATCH_EVENTS',
    1,
    MAX_BATCH_SIZE,
    LIMIT_DEFAULTS.producerMaxBatchEvents,
  ),
  EXECSTREAM_DEMO: z
    .enum(['on', 'off'], { message: 'EXECSTREAM_DEMO must be on or off' })
    .default('on'),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  EXECSTREAM_SSE_RETRY_MS: integer('EXECSTREAM_SSE_RETRY_MS', 0, 60_000, STREAM_DEFAULTS.retryMs),
  EXECSTREAM_PING_INTERVAL_MS: integer(
    'EXECSTREAM_PING_INTERVAL_MS',
    100,
    MAX_PING_INTERVAL_MS,
    STREAM_DEFAULTS.pingIntervalMs,
  ),
  EXECSTREAM_MAX_BACKLOG_BYTES: integer(
    'EXECSTREAM_MAX_BACKLOG_BYTES',
    1024,
    1_073_741_824,
    STREAM_DEFAULTS.maxBacklogBytes,
  ),
  EXECSTREAM_TAIL_EVENTS: integer('EXECSTREAM_TAIL_EVENTS', 1, 100_000, TAIL_DEFAULTS.maxEvents),
  EXECSTREAM_TAIL_BYTES: integer(
    'EXECSTREAM_TAIL_BYTES',
    1024,
    1_073_741_824,
    TAIL_DEFAULTS.maxBytes,
  ),
  EXECSTREAM_STREAM_MAX_LIFETIME_MS: integer(
    'EXECSTREAM_STREAM_MAX_LIFETIME_MS',
    1000,
    86_400_000,
    STREAM_DEFAULTS.maxLifetimeMs,
  ),
  EXECSTREAM_STREAM_END_GRACE_MS: integer(
    'EXECSTREAM_STREAM_END_GRACE_MS',
    0,
    60_000,
    STREAM_DEFAULTS.endGraceMs,
  ),
  EXECSTREAM_LEASE_TTL_MS: integer('EXECSTREAM_LEASE_TTL_MS', 300, 600_000, 10_000),
  EXECSTREAM_SHUTDOWN_GRACE_MS: integer('EXECSTREAM_SHUTDOWN_GRACE_MS', 0, 120_000, 5_000),
  // Limits of CONTRACT §8 (docs/server.md lists each with its answer).
  EXECSTREAM_MAX_STREAMS_PER_OWNER: integer(
    'EXECSTREAM_MAX_STREAMS_PER_OWNER',
    1,
    1_000_000,
    LIMIT_DEFAULTS.maxStreamsPerOwner,
  ),
  EXECSTREAM_MAX_UNFINISHED_PER_OWNER: integer(
    'EXECSTREAM_MAX_UNFINISHED_PER_OWNER',
    1,
    1_000_000,
    LIMIT_DEFAULTS.maxUnfinishedPerOwner,
  ),
  EXECSTREAM_MAX_FAILED_AUTH: integer(
    'EXECSTREAM_MAX_FAILED_AUTH',
    1,
    1_000_000,
    LIMIT_DEFAULTS.maxFailedAuth,
  ),
  EXECSTREAM_FAILED_AUTH_WINDOW_MS: integer(
    'EXECSTREAM_FAILED_AUTH_WINDOW_MS',
    1000,
    86_400_000,
    LIMIT_DEFAULTS.failedAuthWindowMs,
  ),
  EXECSTREAM_MAX_BATCH_CALLS: integer(
    'EXECSTREAM_MAX_BATCH_CALLS',
    1,
    1000,
    LIMIT_DEFAULTS.maxBatchCalls,
  ),
  EXECSTREAM_MAX_BODY_BYTES: integer(
    'EXECSTREAM_MAX_BODY_BYTES',
    1024,
    16_777_216,
    LIMIT_DEFAULTS.maxBodyBytes,
  ),
  EXECSTREAM_TRUST_PROXY: z
    .string()
    .optional()
    .transform((value, context): boolean | string[] => {
      const trimmed = value?.trim() ?? '';
      if (trimmed === '' || trimmed === 'off') return false;
      if (trimmed === 'on') return true;
      const addresses = trimmed.split(',').map((part) => part.trim());
      if (addresses.some((address) => !/^[0-9A-Fa-f.:/]+$/.test(address))) {
        context.addIssue({
          code: 'custom',
          message: `EXECSTREAM_TRUST_PROXY must be off, on, or proxy addresses/CIDRs separated by commas, got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return addresses;
    }),
  EXECSTREAM_PUBLIC_URL: z
    .string()
    .optional()
    .transform((value, context): string | null => {
      const trimmed = value?.trim() ?? '';
      if (trimmed === '') return null;
      const origin = exactOrigin(trimmed, true);
      if (origin === null) {
        context.addIssue({
          code: 'custom',
          message: `EXECSTREAM_PUBLIC_URL must be the http(s) origin browsers use, e.g. https://api.example.com (no path), got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return origin;
    }),
  EXECSTREAM_CORS_ORIGINS: z
    .string()
    .optional()
    .transform((value, context): string[] | null => {
      const trimmed = value?.trim() ?? '';
      if (trimmed === '') return null;
      if (trimmed === 'none') return [];
      const origins = trimmed.split(',').map((part) => part.trim());
      const bad = origins.find((origin) => exactOrigin(origin, false) === null);
      if (bad !== undefined) {
        context.addIssue({
          code: 'custom',
          message: `EXECSTREAM_CORS_ORIGINS must be exact origins separated by commas, e.g. https://app.example.com,http://localhost:5173 (no path, no trailing slash, no *), or none; got ${JSON.stringify(bad)}`,
        });
        return z.NEVER;
      }
      return [...new Set(origins)];
    }),
  EXECSTREAM_SESSION_TTL_MS: integer(
    'EXECSTREAM_SESSION_TTL_MS',
    1000,
    2_592_000_000,
    LIMIT_DEFAULTS.sessionTtlMs,
  ),
  EXECSTREAM_MAX_CHALLENGES_PER_MINUTE: integer(
    'EXECSTREAM_MAX_CHALLENGES_PER_MINUTE',
    1,
    1_000_000,
    LIMIT_DEFAULTS.maxChallengesPerMinute,
  ),
  EXECSTREAM_RPC_URL: z
    .string()
    .optional()
    .transform((value) => (value?.trim() ? value.trim() : null))
    .refine((value) => value === null || /^https?:\/\/[^\s]+$/.test(value), {
      message:
        'EXECSTREAM_RPC_URL must be an http(s) JSON-RPC URL of the chain contract wallets live on',
    }),
  EXECSTREAM_METRICS_TOKEN: z
    .string()
    .optional()
    .transform((value) => (value?.trim() ? value.trim() : null))
    .refine((value) => value === null || /^[\x21-\x7e]{16,256}$/.test(value), {
      message: 'EXECSTREAM_METRICS_TOKEN must be 16 to 256 printable characters without spaces',
    }),
  EXECSTREAM_METRICS_PORT: z
    .string()
    .optional()
    .transform((value, context): number | null => {
      if (value === undefined || value.trim() === '') return null;
      const parsed = /^\d{1,5}$/.test(value.trim()) ? Number(value) : Number.NaN;
      if (!(parsed >= 0 && parsed <= 65_535)) {
        context.addIssue({
          code: 'custom',
          message: `EXECSTREAM_METRICS_PORT must be an integer from 0 to 65535, got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return parsed;
    }),
});

/** The server's configuration, from the variables of CONTRACT §8 and docs/server.md. */
export interface ServerConfig {
  port: number;
  /** Server processes sharing `port` (`node:cluster`); more than one needs Redis. */
  workers: number;
  host: string;
  /** `null`: the embedded in-memory store. */
  redisUrl: string | null;
  /** `null`: none given; a dev key is minted when the demo is on. */
  apiKeys: BootstrapKey[] | null;
  /** Producer keys of `EXECSTREAM_PRODUCER_KEYS` (`key:name`); `null`: none given. */
  producerKeys: BootstrapKey[] | null;
  /** Appends per producer key per second (429 `RATE_LIMITED` past it). */
  producerAppendsPerSecond: number;
  /** Events in one producer append (422 `INVALID_EVENT` past it). */
  producerMaxBatchEvents: number;
  demo: boolean;
  logLevel: (typeof LOG_LEVELS)[number];
  sseRetryMs: number;
  pingIntervalMs: number;
  maxBacklogBytes: number;
  /** The in-memory tail of each execution being streamed (`StreamServiceOptions.tail`). */
  tail: { maxEvents: number; maxBytes: number };
  streamMaxLifetimeMs: number;
  streamEndGraceMs: number;
  leaseTtlMs: number;
  shutdownGraceMs: number;
  maxStreamsPerOwner: number;
  maxUnfinishedPerOwner: number;
  maxFailedAuth: number;
  failedAuthWindowMs: number;
  maxBatchCalls: number;
  maxBodyBytes: number;
  /** Fastify's `trustProxy`: whose `X-Forwarded-For` names the client address. */
  trustProxy: boolean | string[];
  /** When set, `/metrics` wants `Authorization: Bearer <token>`. */
  metricsToken: string | null;
  /** When set, `/metrics` is served on this port alone (and not on the API's). */
  metricsPort: number | null;
  /** The origin browsers use (SIWE domain and URI, cookie `Secure`); `null`: `http://127.0.0.1:<port>`. */
  publicUrl: string | null;
  /** Browser origins allowed by CORS besides the server's own (`EXECSTREAM_CORS_ORIGINS`). */
  corsOrigins: string[];
  sessionTtlMs: number;
  maxChallengesPerMinute: number;
  /** Where contract-wallet (ERC-1271/6492) signatures are checked; `null`: EOAs only. */
  rpcUrl: string | null;
}

/** Thrown for an invalid environment; its message lists every problem, one per line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates the configuration. @throws ConfigError */
export function loadConfig(env: Record<string, string | undefined>): ServerConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) =>
      issue.message.startsWith(String(issue.path[0]))
        ? `  ${issue.message}`
        : `  ${issue.path.join('.')}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const env_ = parsed.data;
  if (env_.EXECSTREAM_DEMO === 'off' && env_.EXECSTREAM_API_KEYS === null && !env_.REDIS_URL) {
    // No dev key (the demo is off), no bootstrap key, and no Redis where `keys create` could
    // put one: every request would be refused, so refuse to start instead.
    throw new ConfigError(
      'Invalid configuration:\n  EXECSTREAM_API_KEYS is required with EXECSTREAM_DEMO=off on the embedded store (REDIS_URL unset): no key could exist, so every request would be refused',
    );
  }
  if (env_.EXECSTREAM_WORKERS > 1 && !env_.REDIS_URL) {
    // The embedded store lives in one process's memory: a second process would hold other data.
    throw new ConfigError(
      `Invalid configuration:\n  EXECSTREAM_WORKERS=${env_.EXECSTREAM_WORKERS} needs REDIS_URL: the embedded store lives in one process, so it runs one worker`,
    );
  }
  return {
    port: env_.PORT,
    workers: env_.EXECSTREAM_WORKERS,
    host: env_.HOST,
    redisUrl: env_.REDIS_URL,
    apiKeys: env_.EXECSTREAM_API_KEYS,
    producerKeys: env_.EXECSTREAM_PRODUCER_KEYS,
    producerAppendsPerSecond: env_.EXECSTREAM_PRODUCER_APPENDS_PER_SECOND,
    producerMaxBatchEvents: env_.EXECSTREAM_PRODUCER_MAX_BATCH_EVENTS,
    demo: env_.EXECSTREAM_DEMO === 'on',
    logLevel: env_.LOG_LEVEL,
    sseRetryMs: env_.EXECSTREAM_SSE_RETRY_MS,
    pingIntervalMs: env_.EXECSTREAM_PING_INTERVAL_MS,
    maxBacklogBytes: env_.EXECSTREAM_MAX_BACKLOG_BYTES,
    tail: { maxEvents: env_.EXECSTREAM_TAIL_EVENTS, maxBytes: env_.EXECSTREAM_TAIL_BYTES },
    streamMaxLifetimeMs: env_.EXECSTREAM_STREAM_MAX_LIFETIME_MS,
    streamEndGraceMs: env_.EXECSTREAM_STREAM_END_GRACE_MS,
    leaseTtlMs: env_.EXECSTREAM_LEASE_TTL_MS,
    shutdownGraceMs: env_.EXECSTREAM_SHUTDOWN_GRACE_MS,
    maxStreamsPerOwner: env_.EXECSTREAM_MAX_STREAMS_PER_OWNER,
    maxUnfinishedPerOwner: env_.EXECSTREAM_MAX_UNFINISHED_PER_OWNER,
    maxFailedAuth: env_.EXECSTREAM_MAX_FAILED_AUTH,
    failedAuthWindowMs: env_.EXECSTREAM_FAILED_AUTH_WINDOW_MS,
    maxBatchCalls: env_.EXECSTREAM_MAX_BATCH_CALLS,
    maxBodyBytes: env_.EXECSTREAM_MAX_BODY_BYTES,
    trustProxy: env_.EXECSTREAM_TRUST_PROXY,
    metricsToken: env_.EXECSTREAM_METRICS_TOKEN,
    metricsPort: env_.EXECSTREAM_METRICS_PORT,
    publicUrl: env_.EXECSTREAM_PUBLIC_URL,
    corsOrigins:
      env_.EXECSTREAM_CORS_ORIGINS ?? (env_.EXECSTREAM_DEMO === 'on' ? [...DEV_CORS_ORIGINS] : []),
    sessionTtlMs: env_.EXECSTREAM_SESSION_TTL_MS,
    maxChallengesPerMinute: env_.EXECSTREAM_MAX_CHALLENGES_PER_MINUTE,
    rpcUrl: env_.EXECSTREAM_RPC_URL,
  };
}
