import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('has the CONTRACT §8 defaults', () => {
    expect(loadConfig({})).toMatchObject({ port: 3000, redisUrl: null, apiKeys: null, demo: true });
  });

  it('lists every invalid variable with what it must be', () => {
    let message = '';
    try {
      loadConfig({
        PORT: 'eighty',
        REDIS_URL: 'http://localhost',
        EXECSTREAM_API_KEYS: 'no-owner-given-here',
        EXECSTREAM_PING_INTERVAL_MS: '20000',
        EXECSTREAM_DEMO: 'yes',
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'Invalid configuration:',
      '  PORT must be an integer from 0 to 65535, got "eighty"',
      '  REDIS_URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster://',
      '  EXECSTREAM_API_KEYS entry 1: expected key:ownerId, with an owner id of 1 to 256 characters of A-Z a-z 0-9 . _ : @ - (format: key:ownerId,key:ownerId)',
      '  EXECSTREAM_DEMO must be on or off',
      '  EXECSTREAM_PING_INTERVAL_MS must be an integer from 100 to 15000, got "20000"',
    ]);
  });

  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message.split('\n').slice(1);
    }
    return [];
  };

  it('takes integers as digits only', () => {
    for (const port of ['0x1F90', '1e3', '-0', '+80', '80.0', '8O']) {
      expect(problemsOf({ PORT: port })).toEqual([
        `  PORT must be an integer from 0 to 65535, got ${JSON.stringify(port)}`,
      ]);
    }
    expect(problemsOf({ EXECSTREAM_PING_INTERVAL_MS: '1e4' })).toEqual([
      '  EXECSTREAM_PING_INTERVAL_MS must be an integer from 100 to 15000, got "1e4"',
    ]);
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080);
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
  });

  it('reads REDIS_URL with the store parser and wants a host', () => {
    for (const url of ['redis://', 'rediss://', 'redis:///', 'redis+cluster://']) {
      expect(problemsOf({ REDIS_URL: url })).toEqual([
        '  REDIS_URL must name a host, e.g. redis://127.0.0.1:6379 or redis+cluster://10.0.0.1:7000,10.0.0.2:7000',
      ]);
    }
    expect(problemsOf({ REDIS_URL: 'redis://:6379' })).toEqual([
      '  REDIS_URL is not a valid URL, e.g. redis://127.0.0.1:6379 or redis+cluster://10.0.0.1:7000,10.0.0.2:7000',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis+cluster://10.0.0.1:7000,10.0.0.2' })).toEqual([
      '  REDIS_URL: Redis cluster node must be host:port, got 10.0.0.2',
    ]);
    for (const url of [
      'redis://127.0.0.1:6379',
      'rediss://user:secret@cache.example:6380/2',
      'redis+cluster://10.0.0.1:7000,[::1]:7001',
    ]) {
      expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
    }
  });

  it('refuses to start a server nobody could use: demo off, no keys, embedded store', () => {
    expect(problemsOf({ EXECSTREAM_DEMO: 'off' })).toEqual([
      '  EXECSTREAM_API_KEYS is required with EXECSTREAM_DEMO=off on the embedded store (REDIS_URL unset): no key could exist, so every request would be refused',
    ]);
    // With keys, or with Redis where `keys create` keeps them, it starts.
    expect(
      loadConfig({ EXECSTREAM_DEMO: 'off', EXECSTREAM_API_KEYS: 'k-0123456789abcdef:owner' }).demo,
    ).toBe(false);
    expect(loadConfig({ EXECSTREAM_DEMO: 'off', REDIS_URL: 'redis://127.0.0.1:6379' }).demo).toBe(
      false,
    );
  });

  it('runs one worker by default, and several only on Redis (the embedded store is one process)', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(
      loadConfig({ EXECSTREAM_WORKERS: '4', REDIS_URL: 'redis://127.0.0.1:6379' }).workers,
    ).toBe(4);
    expect(problemsOf({ EXECSTREAM_WORKERS: '2' })).toEqual([
      '  EXECSTREAM_WORKERS=2 needs REDIS_URL: the embedded store lives in one process, so it runs one worker',
    ]);
    expect(problemsOf({ EXECSTREAM_WORKERS: '0' })).toEqual([
      '  EXECSTREAM_WORKERS must be an integer from 1 to 256, got "0"',
    ]);
  });

  it('reads the browser settings: public URL, CORS origins (the dev app by default with the demo), sessions, RPC', () => {
    expect(loadConfig({})).toMatchObject({
      publicUrl: null,
      corsOrigins: ['http://localhost:5173', 'http://127.0.0.1:5173'],
      sessionTtlMs: 86_400_000,
      maxChallengesPerMinute: 30,
      rpcUrl: null,
    });
    const keys = { EXECSTREAM_DEMO: 'off', EXECSTREAM_API_KEYS: 'k-0123456789abcdef:owner' };
    expect(loadConfig(keys).corsOrigins).toEqual([]);
    expect(loadConfig({ EXECSTREAM_CORS_ORIGINS: 'none' }).corsOrigins).toEqual([]);
    expect(
      loadConfig({
        EXECSTREAM_PUBLIC_URL: 'https://api.example.com/',
        EXECSTREAM_CORS_ORIGINS: ' https://app.example.com , http://localhost:5173',
        EXECSTREAM_RPC_URL: 'https://rpc.example.com/v1/key',
        EXECSTREAM_SESSION_TTL_MS: '3600000',
      }),
    ).toMatchObject({
      publicUrl: 'https://api.example.com',
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
      rpcUrl: 'https://rpc.example.com/v1/key',
      sessionTtlMs: 3_600_000,
    });
    for (const url of [
      'api.example.com',
      'https://api.example.com/v1',
      'ftp://x',
      'https://a.b?x=1',
    ]) {
      expect(problemsOf({ EXECSTREAM_PUBLIC_URL: url })).toEqual([
        `  EXECSTREAM_PUBLIC_URL must be the http(s) origin browsers use, e.g. https://api.example.com (no path), got ${JSON.stringify(url)}`,
      ]);
    }
    for (const origin of [
      '*',
      'https://app.example.com/',
      'app.example.com',
      'https://app.example.com:443',
    ]) {
      expect(problemsOf({ EXECSTREAM_CORS_ORIGINS: `http://localhost:5173,${origin}` })).toEqual([
        `  EXECSTREAM_CORS_ORIGINS must be exact origins separated by commas, e.g. https://app.example.com,http://localhost:5173 (no path, no trailing slash, no *), or none; got ${JSON.stringify(origin)}`,
      ]);
    }
    expect(problemsOf({ EXECSTREAM_RPC_URL: 'localhost:8545' })).toEqual([
      '  EXECSTREAM_RPC_URL must be an http(s) JSON-RPC URL of the chain contract wallets live on',
    ]);
  });
});
