// `pnpm start` runs this first: `vite build` when apps/web/dist is missing or older than any of
// its sources (the app's, and the event-schema package it bundles from source). A few seconds.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const web = fileURLToPath(new URL('..', import.meta.url));
const sources = [
  'index.html',
  'vite.config.ts',
  'package.json',
  'src',
  '../../packages/event-schema/src',
].map((path) => join(web, path));

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

function builtAt() {
  try {
    return statSync(join(web, 'dist', 'index.html')).mtimeMs;
  } catch {
    return -1;
  }
}

if (builtAt() < Math.max(...sources.map(newest))) {
  process.stderr.write('building the web app (apps/web/dist)…\n');
  await build({ root: web, logLevel: 'warn' });
}
