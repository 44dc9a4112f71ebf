import { pino } from 'pino';
import { loadConfig, type RunningServer, type StartOptions, startServer } from '../../src/index.ts';

export const OWNER_A = { key: 'test-key-owner-a-0000001', ownerId: 'owner-a' } as const;
export const OWNER_B = { key: 'test-key-owner-b-0000001', ownerId: 'owner-b' } as const;

/** A real server on a free loopback port, demo off and two owners' keys, quiet logs. */
export function startTestServer(
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = loadConfig({
    PORT: '0',
    EXECSTREAM_DEMO: 'off',
    EXECSTREAM_API_KEYS: `${OWNER_A.key}:${OWNER_A.ownerId},${OWNER_B.key}:${OWNER_B.ownerId}`,
    LOG_LEVEL: 'silent',
    ...env,
  });
  return startServer(config, { logger: pino({ level: 'silent' }), ...options });
}
