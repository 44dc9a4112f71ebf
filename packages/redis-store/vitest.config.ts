import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'redis-store', testTimeout: 60_000, hookTimeout: 120_000 },
});
