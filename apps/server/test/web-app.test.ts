/// <reference lib="dom" />
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { planOf } from '@execstream/demo-executor';
import type { ExecutionSnapshot } from '@execstream/event-schema';
import { redisCommand, startRedisServer } from '@execstream/redis-testing';
import type { ExecutionRecord } from '@execstream/stream-service';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer } from './support/process.ts';
import { newWallet } from './support/wallet.ts';

/**
 * The web app (apps/web), built and served by the server at `/`, in a real Chromium (Debian's,
 * driven by playwright-core): a person signs in with the demo wallet, submits a swap and watches
 * it; the page's view is checked against the server's own snapshot, through a server killed and
 * replaced mid-run on Redis, and through a resync when the page's cursor was trimmed meanwhile.
 */

const CHROMIUM = '/usr/bin/chromium';
const WEB = fileURLToPath(new URL('../../web/', import.meta.url));
const RUN_TIMEOUT = { timeout: 60_000 };

/** A timeline row as the page shows it, and as the server's snapshot has it. */
interface Row {
  sequence: number;
  message: string;
  step: string | null;
  tx: string | null;
  href: string | null;
}

let browser: Browser;

beforeAll(async () => {
  // What `pnpm start` does first: build the app when its dist is missing or stale.
  await promisify(execFile)(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: WEB });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

async function newPage(origin: string, path = '/'): Promise<Page> {
  // A context of its own: its own cookie jar and sessionStorage, so its own demo wallet.
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${origin}${path}`);
  return page;
}

async function signInWithDemoWallet(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign in with a demo wallet' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Submits a realistic swap from the form; resolves with its id once its view is open. */
async function submitSwap(page: Page): Promise<string> {
  await page.getByLabel('Type').selectOption('swap');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForURL(/\/executions\/op_/);
  const operationId = new URL(page.url()).pathname.split('/').pop() as string;
  await page.locator(`.execution[data-operation-id="${operationId}"]`).waitFor();
  return operationId;
}

/** A demo swap's plan is seeded by its id: whether this one ends `completed` (9 in 10 do). */
function completes(operationId: string): boolean {
  const record = { operationId, type: 'swap', params: {} } as unknown as ExecutionRecord;
  return ![...planOf(record)].some((step) => step.action.kind === 'fail');
}

/** The server's snapshot, read by the page with its own session (`v2.executions.get`). */
async function serverSnapshot(page: Page, operationId: string): Promise<ExecutionSnapshot> {
  return page.evaluate(async (operationId) => {
    const input = encodeURIComponent(JSON.stringify({ operationId }));
    const res = await fetch(`/v1/trpc/v2.executions.get?input=${input}`);
    return (await res.json()).result.data;
  }, operationId);
}

async function pageRows(page: Page): Promise<Row[]> {
  return page.locator('.timeline li[data-sequence]').evaluateAll((items) =>
    items.map((item) => {
      const tx = item.querySelector<HTMLElement>('.tx');
      return {
        sequence: Number(item.getAttribute('data-sequence')),
        message: item.querySelector('.message')?.textContent ?? '',
        step: item.querySelector('.step')?.textContent ?? null,
        tx: tx?.dataset.tx ?? null,
        href: tx instanceof HTMLAnchorElement ? tx.href : null,
      };
    }),
  );
}

const EXPLORERS: Record<number, string> = {
  1: 'https://etherscan.io',
  8453: 'https://basescan.org',
  42161: 'https://arbiscan.io',
};

function snapshotRows(snapshot: ExecutionSnapshot): Row[] {
  return snapshot.timeline.map((entry) => ({
    sequence: entry.sequence,
    message: entry.message,
    step: entry.step ?? null,
    tx: entry.txHash ?? null,
    href: entry.txHash && entry.chainId ? `${EXPLORERS[entry.chainId]}/tx/${entry.txHash}` : null,
  }));
}

/** Waits for the run's end, then checks the whole view against the server's snapshot. */
async function expectViewEqualsSnapshot(page: Page, operationId: string) {
  const view = page.locator('.execution');
  await view.locator('[data-connection="ended"]').waitFor(RUN_TIMEOUT);
  const snapshot = await serverSnapshot(page, operationId);
  expect(await pageRows(page)).toEqual(snapshotRows(snapshot));
  expect(await view.getAttribute('data-sequence')).toBe(String(snapshot.sequence));
  expect(await view.locator('.heading [data-status]').getAttribute('data-status')).toBe(
    snapshot.status,
  );
  expect(await view.getByRole('progressbar').getAttribute('aria-valuenow')).toBe(
    String(snapshot.status === 'completed' ? 100 : (snapshot.progress?.percent ?? 0)),
  );
  if (snapshot.result?.summary) await view.getByText(snapshot.result.summary).waitFor();
  if (snapshot.error) await view.getByText(snapshot.error.message).waitFor();
  // Every event after the hydrated cursor came once, in order.
  expect(await view.getAttribute('data-repeats')).toBe('0');
  expect(await view.getAttribute('data-gaps')).toBe('0');
  return snapshot;
}

/**
 * On Redis: a page signed in with the demo wallet follows a swap live; once its timeline has a
 * row, the server dies without a word (SIGKILL) and the page shows it is reconnecting.
 * `restart()` starts another server on the same Redis and port; disposing stops it and Redis.
 */
async function swapWithServerKilled() {
  const redis = await startRedisServer();
  const env = {
    REDIS_URL: redis.url,
    PORT: '0',
    EXECSTREAM_DEMO: 'on',
    EXECSTREAM_LEASE_TTL_MS: '1000',
  };
  let server = await spawnServer(env);
  const { port } = new URL(server.url);
  const page = await newPage(server.url);
  await signInWithDemoWallet(page);
  const operationId = await submitSwap(page);
  const view = page.locator('.execution');
  await view.locator('[data-connection="live"]').waitFor();
  await view.locator('.timeline li[data-sequence]').first().waitFor(RUN_TIMEOUT);
  await server.kill('SIGKILL');
  await view.locator('[data-connection="reconnecting"]').waitFor(RUN_TIMEOUT);
  return {
    redis,
    page,
    view,
    operationId,
    async restart() {
      server = await spawnServer({ ...env, PORT: port });
    },
    async [Symbol.asyncDispose]() {
      await page.context().close();
      await server.kill('SIGKILL');
      await redis.stop();
    },
  };
}

describe('the web app in a real browser', () => {
  it('signs in with the demo wallet, submits a swap and watches it to completed; the timeline equals the snapshot row for row', async () => {
    await using server = await spawnServer({ PORT: '0', EXECSTREAM_DEMO: 'on' });
    const page = await newPage(server.url);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const header = page.locator('header.bar');
    const signedOut = await header.boundingBox();
    await signInWithDemoWallet(page);
    await page.getByRole('heading', { name: 'Your executions' }).waitFor();
    // The header keeps its height with the address and Sign out in it: nothing below jumps.
    expect(await header.boundingBox()).toEqual(signedOut);
    expect(signedOut?.height).toBe(64);

    let operationId = await submitSwap(page);
    const submitted = [operationId];
    while (!completes(operationId)) {
      await page.getByRole('link', { name: '← Your executions' }).click();
      operationId = await submitSwap(page);
      submitted.push(operationId);
    }
    // Live while it runs, then the end.
    await page.locator('[data-connection="live"]').waitFor();
    const snapshot = await expectViewEqualsSnapshot(page, operationId);
    expect(snapshot.status).toBe('completed');
    expect(snapshot.timeline.length).toBeGreaterThan(0);
    expect(await page.locator('.execution').getAttribute('data-resyncs')).toBe('0');
    // Transaction hashes link to the chain's explorer.
    expect(snapshot.timeline.filter((entry) => entry.txHash).length).toBe(2);
    await expect(page.getByRole('button', { name: 'Cancel' }).isDisabled()).resolves.toBe(true);
    // The README's picture: `UPDATE_SCREENSHOT=1` retakes it.
    if (process.env.UPDATE_SCREENSHOT) {
      await page.screenshot({
        path: fileURLToPath(new URL('../../../docs/web-app.png', import.meta.url)),
      });
    }

    // The list: newest first, with their statuses.
    await page.getByRole('link', { name: '← Your executions' }).click();
    const listed = page.locator('.executions li');
    await expect
      .poll(() => listed.evaluateAll((items) => items.map((item) => item.dataset.operationId)))
      .toEqual(submitted.toReversed());
    await listed.first().locator('[data-status="completed"]').waitFor();
  }, 120_000);

  it('on Redis, a server killed mid-run and another started: the page shows reconnecting, resumes, and ends with every row once', async () => {
    await using run = await swapWithServerKilled();
    const { page, view, operationId } = run;
    await run.restart();
    await view.locator('[data-connection="live"], [data-connection="ended"]').waitFor(RUN_TIMEOUT);

    await expectViewEqualsSnapshot(page, operationId);
    // Resumed from its own cursor: the server had it, so no snapshot was needed.
    expect(await view.getAttribute('data-resyncs')).toBe('0');
  }, 120_000);

  it('a resync, the page’s cursor trimmed meanwhile, is shown, and the view ends equal to the snapshot', async () => {
    await using run = await swapWithServerKilled();
    const { page, view, operationId } = run;
    // While the page waits to reconnect, every retained event is trimmed: its cursor is gone.
    const trimmed = await redisCommand(run.redis.port, [
      'XTRIM',
      `es:{${operationId}}:events`,
      'MAXLEN',
      '0',
    ]);
    expect(trimmed).toBeGreaterThan(0);
    await run.restart();

    await view.locator('[data-resynced="true"]').waitFor(RUN_TIMEOUT);
    await view.getByText('resynced from a snapshot').waitFor();
    await expectViewEqualsSnapshot(page, operationId);
    expect(await view.getAttribute('data-resyncs')).toBe('1');
  }, 120_000);

  it('submits a simulated run with its parameters, follows its progress, and cancels it', async () => {
    await using server = await spawnServer({ PORT: '0', EXECSTREAM_DEMO: 'on' });
    const page = await newPage(server.url);
    await signInWithDemoWallet(page);
    await page.getByLabel('Type').selectOption('bridge');
    await page.getByLabel('Simulate (a deterministic demo run)').check();
    await page.getByLabel('Steps (1–10,000)').fill('500');
    await page.getByLabel('Interval between events (ms, 0–60,000)').fill('100');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/\/executions\/op_/);
    const operationId = new URL(page.url()).pathname.split('/').pop() as string;
    const view = page.locator('.execution');
    // Its progress moves: step n of 500 is ⌊n/5⌋ %.
    await page.waitForFunction(
      () =>
        Number(document.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')) >= 1,
    );
    await view.getByText(/^Step \d+ of 500$/).waitFor();
    await view.locator('[data-connection="live"]').waitFor();

    await view.getByRole('button', { name: 'Cancel' }).click();
    await view.locator('.heading [data-status="cancelled"]').waitFor(RUN_TIMEOUT);
    const snapshot = await expectViewEqualsSnapshot(page, operationId);
    expect(snapshot).toMatchObject({ type: 'bridge', status: 'cancelled' });
    expect(snapshot.progress?.percent).toBeLessThan(100);
    await expect(view.getByRole('button', { name: 'Cancel' }).isDisabled()).resolves.toBe(true);
    // The outcome and its reason, followed live and again when the page is opened afresh.
    for (const opened of ['live', 'reloaded']) {
      if (opened === 'reloaded') await page.reload();
      const outcome = page.locator('.execution [data-outcome="cancelled"]');
      await outcome.getByRole('heading', { name: 'Cancelled' }).waitFor();
      await outcome.getByText('Cancelled by the owner').waitFor();
    }

    // A failed run opened after its end: the outcome, and the error that says why.
    const failed = await page.evaluate(async () => {
      const res = await fetch('/v1/trpc/v2.executions.submit', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          type: 'swap',
          params: { simulate: { steps: 2, intervalMs: 10, outcome: 'failed' } },
        }),
      });
      return (await res.json()).result.data.operationId as string;
    });
    await page.goto(`${server.url}/executions/${failed}`);
    const outcome = page.locator('.execution [data-outcome="failed"]');
    await outcome.getByRole('heading', { name: 'Failed' }).waitFor(RUN_TIMEOUT);
    await outcome.getByText('The run failed as params.simulate.outcome asked').waitFor();
    await outcome.getByText('SIMULATED_FAILURE').waitFor();
  }, 120_000);

  it('signed out, a direct link to an execution asks to sign in; another wallet’s execution is not found', async () => {
    await using server = await spawnServer({ PORT: '0', EXECSTREAM_DEMO: 'on' });
    const owner = await newPage(server.url);
    await signInWithDemoWallet(owner);
    const operationId = await submitSwap(owner);
    const link = `/executions/${operationId}`;

    const stranger = await newPage(server.url, link);
    await stranger.getByText('Sign in with your wallet to see this execution.').waitFor();
    await expect(stranger.locator('.execution').count()).resolves.toBe(0);
    await signInWithDemoWallet(stranger);
    await stranger.getByRole('heading', { name: 'Execution not found' }).waitFor();
    expect(new URL(stranger.url()).pathname).toBe(link);
    await expect(stranger.locator('.execution').count()).resolves.toBe(0);

    // The owner, signed out, is asked to sign in again on the same link.
    await owner.getByRole('button', { name: 'Sign out' }).click();
    await owner.goto(`${server.url}${link}`);
    await owner.getByText('Sign in with your wallet to see this execution.').waitFor();
  }, 120_000);

  it('signs in with an injected EIP-1193 wallet when the browser has one, and signs out', async () => {
    await using server = await spawnServer({
      PORT: '0',
      EXECSTREAM_DEMO: 'off',
      EXECSTREAM_API_KEYS: 'esk_web_app_test_key_0001:ops',
    });
    // What a wallet extension puts in a page: `window.ethereum`, answering EIP-1193 requests.
    // Its key is a real one in this process; the page reaches it through `window.wallet`.
    const wallet = newWallet();
    const context = await browser.newContext();
    await context.exposeFunction('wallet', async (method: string, params: unknown[]) => {
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [wallet.address];
        case 'eth_chainId':
          return '0x2105';
        case 'personal_sign':
          expect((params[1] as string).toLowerCase()).toBe(wallet.address.toLowerCase());
          return wallet.signMessage({ message: { raw: params[0] as `0x${string}` } });
        default:
          throw new Error(`unsupported: ${method}`);
      }
    });
    await context.addInitScript(() => {
      const call = (window as unknown as { wallet: (m: string, p: unknown[]) => Promise<unknown> })
        .wallet;
      Object.assign(window, {
        ethereum: {
          request: ({ method, params }: { method: string; params?: unknown[] }) =>
            call(method, params ?? []),
          on() {},
          removeListener() {},
        },
      });
    });
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    // The demo is off: only the browser's wallet is offered.
    await expect(
      page.getByRole('button', { name: 'Sign in with a demo wallet' }).count(),
    ).resolves.toBe(0);
    await page.getByRole('button', { name: 'Sign in with your wallet' }).click();
    await page.getByRole('heading', { name: 'Your executions' }).waitFor();
    const session = await page.evaluate(async () => (await fetch('/v1/auth/session')).json());
    expect(session).toMatchObject({
      ownerId: `wallet:${wallet.address.toLowerCase()}`,
      credential: 'wallet-session',
      chainId: 8453,
    });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(async () => (await fetch('/v1/auth/session')).status)).toBe(401);
    await context.close();
  });

  it('serves the app at / and at client routes to browsers, and leaves the API its 404 and 405', async () => {
    await using server = await spawnServer({ PORT: '0', EXECSTREAM_DEMO: 'on' });
    const html = { accept: 'text/html,application/xhtml+xml' };
    const get = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);

    const root = await get('/');
    expect(root.status).toBe(200);
    const shell = await root.text();
    expect(shell).toContain('<meta name="execstream-demo" content="on">');
    const route = await get('/executions/op_abc', { headers: html });
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(shell);
    const asset = /\/assets\/[^"]+\.js/.exec(shell)?.[0] as string;
    const script = await get(asset);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');

    // Not a browser navigation, or not the app's: the route table's answers, as before.
    for (const [path, init, status] of [
      ['/executions/op_abc', {}, 404],
      ['/v1/nothing', { headers: html }, 404],
      ['/assets/missing.js', { headers: html }, 404],
      ['/', { method: 'POST', headers: html }, 404],
      ['/v1/auth/session', { method: 'POST', headers: html }, 405],
      ['/healthz', { method: 'POST', headers: html }, 405],
    ] as const) {
      const res = await get(path, init);
      expect([path, res.status]).toEqual([path, status]);
      expect((await res.json()).success).toBe(false);
    }
  });
});
