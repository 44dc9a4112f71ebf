import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Where the web app's build is. From source (tsx, `pnpm start`) this module is
 * src/routes/web.ts and the build is `apps/web/dist` (made when stale); in the production bundle
 * it sits in `dist/`, beside the copy `pnpm build` puts in `dist/web`, so the bundle serves the
 * app wherever it is run from.
 */
export const WEB_DIST = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../../web/dist/' : './web/', import.meta.url),
);

/** The built web app: its directory, and its HTML shell with the server's settings in it. */
export interface WebApp {
  root: string;
  html: string;
  /** The directory of its hashed assets, `null` when it has none. */
  assets: string | null;
}

/**
 * The web app built in `root`, or null when it has not been built. The shell tells the page
 * whether the demo is on (a demo wallet is offered then) in a `<meta>`, so the page needs no
 * request to learn it.
 */
export function loadWebApp(root: string, settings: { demo: boolean }): WebApp | null {
  const index = join(root, 'index.html');
  if (!existsSync(index)) return null;
  const meta = `<meta name="execstream-demo" content="${settings.demo ? 'on' : 'off'}">`;
  const assets = join(root, 'assets');
  return {
    root,
    html: readFileSync(index, 'utf8').replace('</head>', `${meta}</head>`),
    assets: existsSync(assets) ? assets : null,
  };
}

/** The shell, for `/` and every client route (`/executions/:id`): the page routes itself. */
export function sendAppShell(reply: FastifyReply, web: WebApp): void {
  reply
    .code(200)
    .header('Cache-Control', 'no-cache')
    .type('text/html; charset=utf-8')
    .send(reply.request.method === 'HEAD' ? undefined : web.html);
}

/**
 * Whether an unmatched request is a browser navigating to a client route: a GET or HEAD that
 * accepts HTML, outside the API (`/v1/*`) and the build's assets, which keep their 404.
 */
export function isAppNavigation(req: FastifyRequest, pathname: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (pathname.startsWith('/v1/') || pathname.startsWith('/assets/')) return false;
  return (req.headers.accept ?? '').includes('text/html');
}

/** `/` and the build's hashed assets (cached for good: a new build has new names). */
export async function webRoutes(app: FastifyInstance, web: WebApp): Promise<void> {
  app.get('/', (_req, reply) => sendAppShell(reply, web));
  if (!web.assets) return;
  await app.register(fastifyStatic, {
    root: web.assets,
    prefix: '/assets/',
    // One route per built file, found now: any other path is the not-found handler's.
    wildcard: false,
    index: false,
    redirect: false,
    immutable: true,
    maxAge: '365d',
  });
}
