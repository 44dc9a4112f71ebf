import { defineConfig } from 'tsdown';

// The published package carries the shared schema, reducer and SSE decoder inside it: no
// workspace package is a dependency of what npm installs. zod stays a dependency, and
// @trpc/server (the AppRouter type refers to it) an optional peer.
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  // Declarations of the bundled workspace sources come through tsconfig.build.json's paths.
  dts: true,
  deps: {
    alwaysBundle: [/^@execstream\//],
    neverBundle: ['zod', /^@trpc\//, /^node:/],
  },
  tsconfig: 'tsconfig.build.json',
  clean: true,
});
