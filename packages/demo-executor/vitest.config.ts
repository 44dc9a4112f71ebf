import { defineConfig } from 'vitest/config';

export default defineConfig({
  // --expose-gc: memory.test.ts measures the heap after collecting garbage.
  test: { name: 'demo-executor', testTimeout: 30_000, execArgv: ['--expose-gc'] },
});
