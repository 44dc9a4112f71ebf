import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'demo-executor', testTimeout: 30_000 },
});
