import { defineConfig } from 'tsdown';

// The CLI as plain JavaScript for node (no tsx at run time): dist/bin.mjs, the package's bin.
// @execstream/client (a workspace package, consumed from source) is bundled in; commander,
// cli-progress and zod stay dependencies that npm installs.
export default defineConfig({
  entry: ['src/bin.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  dts: false,
  deps: { alwaysBundle: [/^@execstream\//] },
  checks: { pluginTimings: false },
  clean: true,
});
