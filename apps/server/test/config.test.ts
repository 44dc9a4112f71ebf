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
});
