// `pnpm start` runs this first: `vite build` when apps/web/dist is missing or older than any of
// its sources (the app's, and the event-schema package it bundles from source). A few seconds.
import { readdirSync, renameSync, rmSync, statSync } from 'node:fs';
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
  // Built beside dist, then put in its place at once: a server starting meanwhile (tests run
  // in parallel) finds the old build or none, never half of one.
  const next = join(web, `dist.${process.pid}.tmp`);
  try {
    await build({ root: web, logLevel: 'warn', build: { outDir: next, emptyOutDir: true } });
    rmSync(join(web, 'dist'), { recursive: true, force: true });
    try {
      renameSync(next, join(web, 'dist'));
    } catch (error) {
      // Another process (tests build in parallel) put its fresh build there first: it serves.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    }
  } finally {
    rmSync(next, { recursive: true, force: true });
  }
}
