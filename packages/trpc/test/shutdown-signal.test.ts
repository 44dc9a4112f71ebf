import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  apiKeyResolver,
  createAuthenticator,
  loadBootstrapKeys,
  MemoryApiKeyStore,
} from '@execstream/auth';
import { createMemoryExecutionStreams } from '@execstream/stream-service';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { describe, expect, it } from 'vitest';
import { createAppRouter, createContextFactory } from '../src/index.ts';
import { subscriptionClient } from './client.ts';

const KEY = 'test-key-shutdown-000001';

/**
 * How many signals `AbortSignal.any` derived from this one are still recorded on it: Node 20
 * keeps them in an internal set and never drops them, which is the leak this test guards.
 */
function dependantSignals(signal: AbortSignal): number {
  const symbol = Object.getOwnPropertySymbols(signal).find(
    (candidate) => candidate.description === 'kDependantSignals',
  );
  if (!symbol) return 0;
  return (signal as unknown as Record<symbol, Set<unknown> | undefined>)[symbol]?.size ?? 0;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the process-wide shutdown signal', () => {
  it('holds one listener for all open subscriptions and nothing once they end', async () => {
    const shutdown = new AbortController();
    const streams = createMemoryExecutionStreams();
    const keys = new MemoryApiKeyStore();
    await loadBootstrapKeys(keys, [{ key: KEY, ownerId: 'owner' }]);
    const authenticate = createAuthenticator([apiKeyResolver([keys])]);
    const handler = createHTTPHandler({
      router: createAppRouter({ streams, shutdownSignal: shutdown.signal }),
      createContext: createContextFactory((req, connectionParams) =>
        authenticate({ headers: req.headers, connectionParams }),
      ),
    });
    const server = createServer(handler).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const client = subscriptionClient(port, KEY);
    try {
      const { record } = await streams.create({ ownerId: 'owner', type: 'swap' });
      const subscriptions = 25;
      for (let round = 0; round < 2; round++) {
        const open: { unsubscribe(): void }[] = [];
        let started = 0;
        await new Promise<void>((resolve) => {
          for (let index = 0; index < subscriptions; index++) {
            let first = true;
            open.push(
              client.v2.executions.stream.subscribe(
                { operationId: record.operationId },
                {
                  onData() {
                    if (!first) return;
                    first = false;
                    if (++started === subscriptions) resolve();
                  },
                },
              ),
            );
          }
        });
        // One listener for every stream (shared with the other surfaces), not one each.
        expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
        for (const subscription of open) subscription.unsubscribe();
        await until(
          () => getEventListeners(shutdown.signal, 'abort').length === 0,
          'every subscription removed its shutdown listener',
        );
      }
      expect(dependantSignals(shutdown.signal)).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await streams.close();
    }
  });
});
