import { defineConfig } from 'tsdown';

// The published package carries the shared schema, reducer and SSE decoder inside it: no
// workspace package is a dependency of what npm installs. zod stays a dependency, and
// @trpc/server (the AppRouter type refers to it) an optional peer.
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  // Resolved as Node resolves: the declarations of AppRouter walk the server's packages, whose
  // dependencies (ioredis, viem's ws) name only `main` and bare builtins, which the neutral
  // platform cannot resolve (24 UNRESOLVED_IMPORT warnings). The JavaScript is the same either
  // way: it imports no builtin, and a browser bundle of it is tested (test/package.test.ts).
  platform: 'node',
  fixedExtension: false,
  target: 'es2022',
  // Declarations of the bundled workspace sources come through tsconfig.build.json's paths.
  dts: true,
  deps: {
    alwaysBundle: [/^@execstream\//],
    neverBundle: ['zod', /^@trpc\//, /^node:/],
  },
  tsconfig: 'tsconfig.build.json',
  // A report of where the build's time went, which a loaded machine prints: not a problem.
  checks: { pluginTimings: false },
  clean: true,
});
