/// <reference lib="dom" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@execstream/redis-testing';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { spawnServer } from './support/process.ts';
import { newWallet } from './support/wallet.ts';

/**
 * A real Chromium (Debian's, at /usr/bin/chromium, driven by playwright-core) runs a page served
 * from one origin against the API on another: same host, two ports, so the two are one site and
 * the `SameSite=Lax` session cookie goes along with `credentials: 'include'` and an EventSource's
 * `withCredentials`, as it does for a web app on `app.example.com` and an API on
 * `api.example.com`.
 *
 * The wallet is a viem local account in this process, exposed to the page as `window.sign`: the
 * signature is a real secp256k1 one over the exact message the page got, which is all a wallet
 * extension contributes. The page's code (`browser/app.js`) is bundled with `@trpc/client` by
 * esbuild, so the page runs the very client a web app ships.
 */

const CHROMIUM = '/usr/bin/chromium';

interface Received {
  id: string;
  data: string;
}
interface FollowState {
  events: Received[];
  errors: number;
  done: boolean;
  error: string | null;
}
interface PageApp {
  signIn(
    api: string,
    address: string,
  ): Promise<{
    verified: { status: number; body: unknown };
    session: { status: number; body: { ownerId?: string } };
  }>;
  submit(api: string, params: unknown): Promise<string>;
  list(api: string): Promise<string[]>;
  follow(api: string, operationId: string): void;
  resume(api: string, operationId: string, lastEventId: string): void;
  probe(api: string, operationId: string): Promise<Record<string, unknown>>;
}
declare global {
  interface Window {
    app: PageApp;
    ready: boolean;
    follow: { sse: FollowState; trpc: FollowState };
    resumed: FollowState;
    sign(message: string): Promise<string>;
  }
}

/** The page: an HTML shell and the bundled app, from 127.0.0.1 on a port of its own. */
async function startStaticServer(bundle: string): Promise<{ origin: string; server: Server }> {
  const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function bundleApp(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./browser/app.js', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.text ?? '';
}

async function openPage(
  context: BrowserContext,
  origin: string,
  sign: (message: string) => Promise<string>,
) {
  const page = await context.newPage();
  await page.exposeFunction('sign', sign);
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

/** The envelopes a follower received: a snapshot, then every event after it, in order, once. */
function checkGapless(events: Received[], total: number): void {
  const envelopes = events.map((event) => JSON.parse(event.data));
  for (const [index, envelope] of envelopes.entries()) {
    expect(events[index]?.id).toBe(envelope.cursor);
  }
  const [first, ...rest] = envelopes;
  expect(first.kind).toBe('execution.snapshot');
  expect(rest.map((envelope) => envelope.sequence)).toEqual(
    Array.from({ length: total - first.sequence }, (_, i) => first.sequence + i + 1),
  );
  expect(rest.at(-1)).toMatchObject({
    kind: 'execution.state_changed',
    payload: { to: 'completed' },
  });
}

describe('a browser on another origin', () => {
  it('signs in with a wallet, follows a run with an EventSource and with tRPC through a restart on Redis, and a page of an unlisted origin is blocked', async () => {
    const bundle = await bundleApp();
    const app = await startStaticServer(bundle);
    const unlisted = await startStaticServer(bundle);
    await using redis = await startRedisServer();
    const env = {
      REDIS_URL: redis.url,
      PORT: '0',
      EXECSTREAM_DEMO: 'on',
      EXECSTREAM_CORS_ORIGINS: app.origin,
      EXECSTREAM_LEASE_TTL_MS: '1000',
      EXECSTREAM_SSE_RETRY_MS: '200',
    };
    let server = await spawnServer(env);
    const api = server.url;
    const { port } = new URL(api);
    const log: string[] = [];
    const record = (chunk: Buffer) => log.push(...String(chunk).split('\n'));
    server.child.stdout?.on('data', record);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const wallet = newWallet();
      const sign = (message: string) => wallet.signMessage({ message });
      const context = await browser.newContext();
      const page: Page = await openPage(context, app.origin, sign);

      const signedIn = await page.evaluate(({ api, address }) => window.app.signIn(api, address), {
        api,
        address: wallet.address,
      });
      expect(signedIn.verified.status).toBe(200);
      expect(signedIn.session.status).toBe(200);
      const ownerId = `wallet:${wallet.address.toLowerCase()}`;
      expect(signedIn.session.body.ownerId).toBe(ownerId);
      // HttpOnly: the page never sees the token.
      expect(await page.evaluate(() => document.cookie)).toBe('');

      const operationId = await page.evaluate(
        ({ api }) => window.app.submit(api, { simulate: { steps: 30, intervalMs: 100 } }),
        { api },
      );
      expect(operationId).toMatch(/^op_/);
      await page.evaluate(({ api, operationId }) => window.app.follow(api, operationId), {
        api,
        operationId,
      });

      // Mid-run, the server dies without a word and comes back on the same Redis and port.
      await page.waitForFunction(
        () => window.follow.sse.events.length >= 5 && window.follow.trpc.events.length >= 5,
      );
      await server.kill('SIGKILL');
      server = await spawnServer({ ...env, PORT: port });
      server.child.stdout?.on('data', record);
      await page.waitForFunction(() => window.follow.sse.done && window.follow.trpc.done, null, {
        timeout: 60_000,
      });
      const follow = await page.evaluate(() => window.follow);
      expect(follow.trpc.error).toBeNull();
      // 30 steps: accepted, running, 30 progress, result, completed.
      checkGapless(follow.sse.events, 34);
      checkGapless(follow.trpc.events, 34);
      // Both lived through the outage: the EventSource reconnected with its cursor and the
      // session cookie, which the new process found in Redis.
      expect(follow.sse.errors).toBeGreaterThanOrEqual(2);

      // `?lastEventId=` on the raw route: what follows that cursor, then the end.
      const cursor = follow.sse.events.at(-4)?.id as string;
      await page.evaluate(
        ({ api, operationId, cursor }) => window.app.resume(api, operationId, cursor),
        { api, operationId, cursor },
      );
      await page.waitForFunction(() => window.resumed.done);
      const resumed = await page.evaluate(() => window.resumed);
      expect(resumed.events).toEqual(follow.sse.events.slice(-3));

      // A page from an origin the server does not list, in the same browser and cookie jar.
      const foreign = await openPage(context, unlisted.origin, sign);
      const before = log.length;
      const probe = await foreign.evaluate(
        ({ api, operationId }) => window.app.probe(api, operationId),
        { api, operationId },
      );
      expect(probe).toEqual({
        session: 'TypeError',
        list: 'TRPCClientError',
        blindSubmit: 'opaque',
        blindLogout: 'opaque',
        stream: { received: 0, closed: true },
      });
      // The blind POSTs reached the server with the cookie, and were refused there: nothing was
      // submitted, and the session is still there.
      const refused = log
        .slice(before)
        .filter((line) => /"path":"\/v1\/(trpc\/v2.executions.submit|auth\/logout)"/.test(line))
        .map((line) => JSON.parse(line).status);
      expect(refused).toEqual([403, 403]);
      expect(await page.evaluate(({ api }) => window.app.list(api), { api })).toEqual([
        operationId,
      ]);
    } finally {
      await browser.close();
      await server.kill('SIGTERM');
      app.server.close();
      unlisted.server.close();
    }
  });
});
