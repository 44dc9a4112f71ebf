import { defineConfig } from 'tsdown';

// `pnpm build`: the server (and its keys command) as plain JavaScript for `node`, no tsx at run
// time. The workspace packages are bundled in; the server's npm dependencies stay external and
// load from node_modules. The Lua scripts of @execstream/redis-store are read at run time from
// `./lua/` beside the module that loads them, so they are copied next to the bundle. The web
// app's build (apps/web/dist, made first) is copied to `dist/web`, where the bundle looks for it.
export default defineConfig({
  entry: ['src/main.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  dts: false,
  // Bundled too: what the workspace packages import but the server does not declare (ioredis,
  // ulid and theirs).
  deps: { alwaysBundle: [/^@execstream\//], onlyBundle: false },
  copy: [
    { from: '../../packages/redis-store/src/lua/*.lua', to: 'dist/lua' },
    { from: '../web/dist', to: 'dist', rename: 'web' },
  ],
  // A report of where the build's time went, which a loaded machine prints: not a problem.
  checks: { pluginTimings: false },
  clean: true,
});
